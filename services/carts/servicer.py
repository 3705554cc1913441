"""CartsService: the caller's cart, priced by catalog, checked out through orders.

A cart belongs to the verified subject of the call (the gateway's principal);
a call without a user (a peer, grpcurl without ``x-mesh-principal``) has no
cart and is refused. Checkout calls orders' CreateOrder *on behalf of the
caller* (orders records the customer as the owner) with a request id made of
the cart's id and version, so a retried checkout makes one order; the ordered
quantities then leave the cart (what was added meanwhile stays).
"""

from __future__ import annotations

from typing import Any

from grpc import aio

from mesh.clients import Clients
from mesh.context import current_principal
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from mesh.timeutil import to_timestamp
from mesh.validation import ID_PATTERN, SKU_PATTERN, Violations
from services.carts.store import CartRecord, CartsStore
from shop.carts.v1 import carts_pb2 as pb
from shop.carts.v1 import carts_pb2_grpc as pb_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1 import money_pb2

Context = aio.ServicerContext[Any, Any]
MAX_QUANTITY = 1000
MAX_LINES = 100  # what one order takes


def owner() -> str:
    principal = current_principal()
    if principal.internal or not principal.subject:
        raise PermissionDenied(
            "a cart belongs to a signed-in customer; this call carries no user",
            reason="CUSTOMER_REQUIRED",
        )
    return principal.subject


def _line(sku: str, quantity: int, v: Violations) -> None:
    v.matches(SKU_PATTERN, sku, "sku", "sku")
    v.require(1 <= quantity <= MAX_QUANTITY, "quantity", f"must be 1-{MAX_QUANTITY}")


class CartsServicer(pb_grpc.CartsServiceServicer):
    def __init__(self, store: CartsStore, clients: Clients) -> None:
        self.store = store
        self.clients = clients

    async def _prices(self, skus: list[str]) -> dict[str, catalog_pb2.Product]:
        """The catalog's products among ``skus`` (missing ones left out), in one or two calls."""
        stub: catalog_pb2_grpc.CatalogServiceAsyncStub = self.clients.stub(
            "catalog", catalog_pb2_grpc.CatalogServiceStub
        )
        while skus:
            request = catalog_pb2.BatchGetProductsRequest(names=[f"products/{s}" for s in skus])
            try:
                reply = await self.clients.call(stub.BatchGetProducts, request, service="catalog")
            except NotFound as error:
                missing = set(error.metadata.get("skus", "").split(","))
                if not missing & set(skus):
                    raise
                skus = [s for s in skus if s not in missing]
                continue
            return {p.sku: p for p in reply.products}
        return {}

    async def _message(self, record: CartRecord) -> pb.Cart:
        skus = sorted(record.lines)
        products = await self._prices(skus)
        lines: list[pb.CartLine] = []
        totals: dict[str, int] = {}
        for sku in skus:
            quantity = record.lines[sku]
            line = pb.CartLine(sku=sku, quantity=quantity, available=False)
            product = products.get(sku)
            if product is not None and product.active:
                price = product.price
                line.available = True
                line.unit_price.CopyFrom(price)
                line.line_total.CopyFrom(
                    money_pb2.Money(
                        currency_code=price.currency_code,
                        amount_minor=price.amount_minor * quantity,
                    )
                )
                totals[price.currency_code] = (
                    totals.get(price.currency_code, 0) + price.amount_minor * quantity
                )
            lines.append(line)
        cart = pb.Cart(lines=lines, version=record.version)
        if len(totals) == 1:
            ((currency, amount),) = totals.items()
            cart.total.CopyFrom(money_pb2.Money(currency_code=currency, amount_minor=amount))
        if record.update_time:
            cart.update_time.CopyFrom(to_timestamp(record.update_time))
        return cart

    async def GetCart(self, request: pb.GetCartRequest, context: Context) -> pb.GetCartResponse:
        return pb.GetCartResponse(cart=await self._message(await self.store.get(owner())))

    async def AddCartLine(
        self, request: pb.AddCartLineRequest, context: Context
    ) -> pb.AddCartLineResponse:
        who = owner()
        v = Violations()
        _line(request.sku, request.quantity, v)
        v.check("invalid line")
        if not await self._prices([request.sku]):
            raise InvalidArgument(
                f"product {request.sku!r} is not in the catalog",
                reason="PRODUCT_NOT_FOUND",
                metadata={"sku": request.sku},
            )

        def add(lines: dict[str, int]) -> dict[str, int]:
            if request.sku not in lines and len(lines) >= MAX_LINES:
                raise FailedPrecondition(
                    f"a cart holds at most {MAX_LINES} lines", reason="CART_FULL"
                )
            lines[request.sku] = min(MAX_QUANTITY, lines.get(request.sku, 0) + request.quantity)
            return lines

        record = await self.store.change(who, add)
        return pb.AddCartLineResponse(cart=await self._message(record))

    async def UpdateCartLine(
        self, request: pb.UpdateCartLineRequest, context: Context
    ) -> pb.UpdateCartLineResponse:
        who = owner()
        v = Violations()
        _line(request.sku, request.quantity, v)
        v.check("invalid line")

        def set_quantity(lines: dict[str, int]) -> dict[str, int]:
            if request.sku not in lines:
                raise NotFound(
                    f"the cart has no line {request.sku!r}",
                    reason="CART_LINE_NOT_FOUND",
                    metadata={"sku": request.sku},
                )
            lines[request.sku] = request.quantity
            return lines

        record = await self.store.change(who, set_quantity)
        return pb.UpdateCartLineResponse(cart=await self._message(record))

    async def RemoveCartLine(
        self, request: pb.RemoveCartLineRequest, context: Context
    ) -> pb.RemoveCartLineResponse:
        who = owner()
        v = Violations()
        v.matches(SKU_PATTERN, request.sku, "sku", "sku")
        v.check("invalid line")

        def remove(lines: dict[str, int]) -> dict[str, int]:
            lines.pop(request.sku, None)  # removing what is not there is done already
            return lines

        record = await self.store.change(who, remove)
        return pb.RemoveCartLineResponse(cart=await self._message(record))

    async def CheckoutCart(
        self, request: pb.CheckoutCartRequest, context: Context
    ) -> pb.CheckoutCartResponse:
        who = owner()
        request_id = request.request_id
        if request_id:
            v = Violations()
            v.matches(ID_PATTERN, request_id, "request_id", "request_id")
            v.check("invalid checkout")
            # A retry of a checkout that went through: its order, not CART_EMPTY.
            if (placed := await self._placed(who, request_id)) is not None:
                return placed
        cart = await self.store.get(who)
        if not cart.lines:
            # A twin with this key may have emptied it since the look-up above.
            if request_id and (placed := await self._placed(who, request_id)) is not None:
                return placed
            raise FailedPrecondition("the cart is empty", reason="CART_EMPTY")
        ordered = dict(cart.lines)
        stub: orders_pb2_grpc.OrdersServiceAsyncStub = self.clients.stub(
            "orders", orders_pb2_grpc.OrdersServiceStub
        )
        reply = await self.clients.call(
            stub.CreateOrder,
            orders_pb2.CreateOrderRequest(
                # The same cart at the same version is the same order, however often retried.
                request_id=f"cart-{cart.cart_id}-{cart.version}",
                lines=[
                    orders_pb2.OrderLineInput(sku=s, quantity=q) for s, q in sorted(ordered.items())
                ],
            ),
            service="orders",
            on_behalf_of_caller=True,
        )

        def take_out(lines: dict[str, int]) -> dict[str, int]:
            for sku, quantity in ordered.items():
                left = lines.get(sku, 0) - quantity
                if left > 0:
                    lines[sku] = left
                else:
                    lines.pop(sku, None)
            return lines

        if request_id and not await self.store.claim_checkout(who, request_id, reply.order.name):
            # A twin with this key (at once) claimed first and took its lines out:
            # every answer to the key names the claimed order.
            placed = await self._placed(who, request_id)
            if placed is not None:
                return placed
        record = await self.store.change(who, take_out)
        return pb.CheckoutCartResponse(order=reply.order.name, cart=await self._message(record))

    async def _placed(self, who: str, request_id: str) -> pb.CheckoutCartResponse | None:
        order = await self.store.checkout_of(who, request_id)
        if order is None:
            return None
        return pb.CheckoutCartResponse(
            order=order, cart=await self._message(await self.store.get(who))
        )
