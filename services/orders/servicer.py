"""OrdersService: prices from catalog, stock from inventory, orders in its own store.

CreateOrder takes three steps, each durable before the next::

    reserve stock ──> write the order PENDING ──> settle it
    (inventory)        (orders' database)

Settling starts the order's fulfilment workflow and makes the order
PENDING_PAYMENT (:mod:`services.orders.lifecycle` takes it from there: payment,
PAID, FULFILLED, or EXPIRED). Without a workflow (``MESH_WORKFLOW=off``),
settling is the legacy lifecycle: commit the reservation, then mark the order
CONFIRMED. Both settlements are idempotent.

A crash anywhere in between ends in one of two states, never a third:

- before the order is written: no order; the reservation lapses after
  inventory's TTL and its stock goes back (inventory's sweeper);
- after: a PENDING order, which :meth:`OrdersServicer.settle` finishes. A retry of the same request settles it at
  once; the :class:`~services.orders.settler.Settler` settles the rest in the
  background. Should its reservation have lapsed meanwhile (orders down for
  longer than the TTL), the order never was: it is deleted, its stock is back.

Each attempt reserves under a fresh reservation id. If writing fails, the
reservation is released before the error goes back; if a concurrent twin with
the same request_id won, this attempt releases its own reservation and answers
with the twin's order. So a retry never holds stock twice.

``fault_exit_at`` (MESH_FAULT_EXIT_AT) makes the process exit at a named step,
for drills that prove the above with a real crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from grpc import aio

from mesh.clients import Clients
from mesh.context import current_principal
from mesh.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    MeshError,
    NotFound,
    Unavailable,
)
from mesh.paging import PageTokens, page_size
from mesh.principal import Principal
from mesh.timeutil import now_us, to_timestamp
from mesh.validation import ID_PATTERN, Violations, parse_name, validate_lines
from services.orders.events import OrderEvents
from services.orders.lifecycle import WORKFLOW_MOVES, Lifecycle, order_closed
from services.orders.payments import Card
from services.orders.store import (
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    FAILED,
    FINAL,
    FULFILLED,
    PAID,
    PENDING,
    PENDING_PAYMENT,
    DuplicateRequest,
    OrderRecord,
    OrdersStore,
)
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc
from shop.type.v1 import money_pb2

Context = aio.ServicerContext[Any, Any]
ORDER_ID = re.compile(r"^[0-9a-f]{32}\Z")
_STATUS = {
    CONFIRMED: pb.Order.STATUS_CONFIRMED,
    CANCELLED: pb.Order.STATUS_CANCELLED,
    PENDING: pb.Order.STATUS_PENDING,
    PENDING_PAYMENT: pb.Order.STATUS_PENDING_PAYMENT,
    PAID: pb.Order.STATUS_PAID,
    FULFILLED: pb.Order.STATUS_FULFILLED,
    EXPIRED: pb.Order.STATUS_EXPIRED,
    FAILED: pb.Order.STATUS_FAILED,
}
_STATUS_NAMES = {number: name for name, number in _STATUS.items()}
# Where MESH_FAULT_EXIT_AT may stop the process: after each durable step but the last.
FAULT_STEPS = ("after-reserve", "after-write", "after-commit")
FAULT_EXIT_CODE = 70
# Sees and cancels every customer's orders (declared in orders.proto).
ADMIN_SCOPE = "orders.admin"
# An order's own limits; inventory checks its reservations against its own.
MAX_LINES = 100
MAX_LINE_QUANTITY = 1_000_000
log = logging.getLogger("orders")


def sees_all(principal: Principal) -> bool:
    """The mesh itself (a peer, an operator on the trusted network) and admins."""
    return principal.internal or ADMIN_SCOPE in principal.scopes


def order_message(record: OrderRecord) -> pb.Order:
    def money(amount: int) -> money_pb2.Money:
        return money_pb2.Money(currency_code=record.currency_code, amount_minor=amount)

    message = pb.Order(
        name=f"orders/{record.order_id}",
        request_id=record.request_id,
        lines=[
            pb.OrderLine(sku=s, quantity=q, unit_price=money(p), line_total=money(p * q))
            for s, q, p in record.lines
        ],
        total=money(record.total_minor),
        status=_STATUS[record.status],
        create_time=to_timestamp(record.create_time),
        update_time=to_timestamp(record.update_time),
        paid=record.payment_id is not None,
    )
    if record.payment_deadline is not None:
        message.payment_deadline.CopyFrom(to_timestamp(record.payment_deadline))
    return message


def _order_cursor(cursor: Any) -> bool:
    """(create_time, order_id) of the last order of a page."""
    return (
        isinstance(cursor, list)
        and len(cursor) == 2
        and isinstance(cursor[0], int)
        and isinstance(cursor[1], str)
    )


def fingerprint(lines: list[tuple[str, int]]) -> str:
    return hashlib.sha256(repr(sorted(lines)).encode()).hexdigest()


class OrdersServicer(pb_grpc.OrdersServiceServicer):
    def __init__(
        self,
        store: OrdersStore,
        clients: Clients,
        tokens: PageTokens,
        events: OrderEvents,
        lifecycle: Lifecycle,
        *,
        watch_poll: float = 1.0,
        fault_exit_at: str | None = None,
    ) -> None:
        if fault_exit_at is not None and fault_exit_at not in FAULT_STEPS:
            raise ValueError(
                f"MESH_FAULT_EXIT_AT={fault_exit_at!r} is not a step of orders "
                f"({', '.join(FAULT_STEPS)})"
            )
        self.store = store
        self.clients = clients
        self.tokens = tokens
        self.events = events
        self.lifecycle = lifecycle
        self.watch_poll = watch_poll
        self.fault_exit_at = fault_exit_at

    def _step(self, name: str) -> None:
        """A drill's crash point: a real exit, no cleanup, as a SIGKILL would leave things."""
        if self.fault_exit_at == name:
            log.critical("exiting at %s (MESH_FAULT_EXIT_AT)", name)
            for handler in logging.getLogger().handlers:
                handler.flush()
            os._exit(FAULT_EXIT_CODE)

    def _catalog(self) -> catalog_pb2_grpc.CatalogServiceAsyncStub:
        stub: catalog_pb2_grpc.CatalogServiceAsyncStub = self.clients.stub(
            "catalog", catalog_pb2_grpc.CatalogServiceStub
        )
        return stub

    def _inventory(self) -> inventory_pb2_grpc.InventoryServiceAsyncStub:
        stub: inventory_pb2_grpc.InventoryServiceAsyncStub = self.clients.stub(
            "inventory", inventory_pb2_grpc.InventoryServiceStub
        )
        return stub

    async def CreateOrder(
        self, request: pb.CreateOrderRequest, context: Context
    ) -> pb.CreateOrderResponse:
        v = Violations()
        v.matches(ID_PATTERN, request.request_id, "request_id", "request_id")
        lines = validate_lines(
            request.lines, v, max_lines=MAX_LINES, max_quantity=MAX_LINE_QUANTITY
        )
        v.check("invalid order")
        print_ = fingerprint(lines)
        owner = current_principal().subject
        existing = await self.store.by_request_id(owner, request.request_id)
        if existing is not None:
            settled = await self.settle(self._same_request(existing, print_))
            if settled is not None:
                return pb.CreateOrderResponse(order=order_message(settled))
            # It never was (its reservation lapsed while it was pending): make it now.

        prices = await self._prices(lines)
        currencies = {currency for currency, _ in prices.values()}
        if len(currencies) > 1:
            raise FailedPrecondition(
                "an order's products must share one currency",
                reason="MIXED_CURRENCIES",
                metadata={"currencies": ",".join(sorted(currencies))},
            )
        reservation_id = f"ord-{uuid.uuid4().hex}"
        inventory = self._inventory()
        reserve = inventory_pb2.ReserveStockRequest(
            reservation_id=reservation_id,
            lines=[inventory_pb2.ReservationLine(sku=s, quantity=q) for s, q in lines],
        )
        if self.lifecycle.enabled:
            # The stock is held while the customer pays, and a margin beyond.
            reserve.ttl.FromMilliseconds(int(self.lifecycle.reservation_ttl * 1000))
        await self.clients.call(inventory.ReserveStock, reserve, service="inventory")
        self._step("after-reserve")
        priced = tuple(sorted((s, q, prices[s][1]) for s, q in lines))
        record = OrderRecord(
            order_id=uuid.uuid4().hex,
            owner=owner,
            request_id=request.request_id,
            fingerprint=print_,
            status=PENDING,
            reservation_id=reservation_id,
            currency_code=currencies.pop(),
            total_minor=sum(q * p for _, q, p in priced),
            lines=priced,
            payment_deadline=self.lifecycle.deadline_from_now() if self.lifecycle.enabled else None,
        )
        try:
            created = await self.store.create(record)
        except DuplicateRequest:
            await self._release(reservation_id)
            twin = await self.store.by_request_id(owner, request.request_id)
            assert twin is not None
            settled = await self.settle(self._same_request(twin, print_))
            if settled is None:
                raise Aborted(
                    "a concurrent attempt of this request failed; retry it",
                    reason="CONCURRENT_ATTEMPT_FAILED",
                ) from None
            return pb.CreateOrderResponse(order=order_message(settled))
        except BaseException:
            # Nothing was written: give the stock back before the error leaves.
            await asyncio.shield(self._release(reservation_id))
            raise
        self._step("after-write")
        # From here on the order exists: a failure leaves it PENDING for a retry
        # or the settler to finish, never released.
        confirmed = await self.settle(created)
        if confirmed is None:
            raise Aborted(
                "the order's stock reservation lapsed before it could be committed; retry",
                reason="RESERVATION_LAPSED",
            )
        return pb.CreateOrderResponse(order=order_message(confirmed))

    async def settle(self, order: OrderRecord) -> OrderRecord | None:
        """A pending order finished: its workflow started (PENDING_PAYMENT), or without
        a workflow its reservation committed, then the order confirmed.

        Returns the order as it now is; None if it never was (its reservation
        lapsed and was released, so it is deleted). Orders that are not pending
        come back as they are. Safe to run twice at once (every step is
        conditional or idempotent), so the settler and a retry never get in each
        other's way.
        """
        if order.status != PENDING:
            return order
        if self.lifecycle.enabled and order.payment_deadline is not None:
            return await self.lifecycle.start(order)
        try:
            await self.clients.call(
                self._inventory().CommitReservation,
                inventory_pb2.CommitReservationRequest(name=f"reservations/{order.reservation_id}"),
                service="inventory",
            )
        except (FailedPrecondition, NotFound) as exc:
            if exc.reason not in ("RESERVATION_RELEASED", "RESERVATION_NOT_FOUND"):
                raise
            if await self.store.delete_pending(order.order_id):
                log.warning(
                    "pending order dropped: its reservation lapsed",
                    extra={"order_id": order.order_id},
                )
                self.events.publish(order.order_id)
                return None
            # Settled by someone else meanwhile (the settler and a retry race):
            # dropped, most likely, since the reservation is gone.
            try:
                return await self.store.get(order.order_id)
            except NotFound:
                return None
        self._step("after-commit")
        now = now_us()
        confirmed = await self.store.set_status(order.order_id, PENDING, CONFIRMED, at=now)
        self.events.publish(order.order_id)
        if confirmed:
            # This call moved it: its state is known without reading it back.
            return replace(order, status=CONFIRMED, update_time=now)
        return await self.store.get(order.order_id)

    def _same_request(self, existing: OrderRecord, print_: str) -> OrderRecord:
        if existing.fingerprint != print_:
            raise AlreadyExists(
                f"request_id {existing.request_id!r} was used for another order",
                reason="REQUEST_ID_REUSED",
                metadata={
                    "request_id": existing.request_id,
                    "order": f"orders/{existing.order_id}",
                },
            )
        return existing

    async def _prices(self, lines: list[tuple[str, int]]) -> dict[str, tuple[str, int]]:
        """(currency, unit price) per sku, from one catalog call whatever the order's size."""
        try:
            reply = await self.clients.call(
                self._catalog().BatchGetProducts,
                catalog_pb2.BatchGetProductsRequest(names=[f"products/{s}" for s, _ in lines]),
                service="catalog",
            )
        except NotFound as error:
            missing = set(error.metadata.get("skus", "").split(","))
            raise InvalidArgument(
                f"unknown product(s): {', '.join(sorted(missing))}",
                reason="UNKNOWN_PRODUCT",
                violations=[
                    FieldViolation(f"lines[{i}].sku", "no such product")
                    for i, (sku, _) in enumerate(lines)
                    if sku in missing
                ],
            ) from None
        prices: dict[str, tuple[str, int]] = {}
        for product in reply.products:
            if not product.active:
                raise FailedPrecondition(
                    f"product {product.sku!r} is not active",
                    reason="PRODUCT_INACTIVE",
                    metadata={"sku": product.sku},
                )
            prices[product.sku] = (product.price.currency_code, product.price.amount_minor)
        return prices

    async def _release(self, reservation_id: str) -> None:
        try:
            await self.clients.call(
                self._inventory().ReleaseReservation,
                inventory_pb2.ReleaseReservationRequest(name=f"reservations/{reservation_id}"),
                service="inventory",
            )
        except MeshError:
            log.exception("could not release reservation", extra={"reservation_id": reservation_id})

    async def _visible(self, order_id: str) -> OrderRecord:
        """The order, if the caller may see it; someone else's is NOT_FOUND, exactly
        like one that does not exist, so ids reveal nothing."""
        principal = current_principal()
        order = await self.store.get(order_id)
        if sees_all(principal) or (principal.subject and order.owner == principal.subject):
            return order
        raise NotFound(
            f"order {order_id!r} not found",
            reason="ORDER_NOT_FOUND",
            metadata={"order_id": order_id},
        )

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        return pb.GetOrderResponse(order=order_message(await self._visible(order_id)))

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: Context
    ) -> pb.ListOrdersResponse:
        limit = page_size(request.page_size)
        principal = current_principal()
        owner = None if sees_all(principal) else principal.subject
        # A page token is bound to whose list it pages through.
        query = ["orders", owner]
        cursor = self.tokens.decode(request.page_token, query, valid=_order_cursor)
        after = (cursor[0], cursor[1]) if cursor is not None else None
        records, more = await self.store.page(owner=owner, after=after, limit=limit)
        token = ""
        if more and records:
            token = self.tokens.encode([records[-1].create_time, records[-1].order_id], query)
        return pb.ListOrdersResponse(
            orders=[order_message(r) for r in records], next_page_token=token
        )

    async def CancelOrder(
        self, request: pb.CancelOrderRequest, context: Context
    ) -> pb.CancelOrderResponse:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        order = await self._visible(order_id)
        if order.status == CANCELLED:
            return pb.CancelOrderResponse(order=order_message(order))
        if order.status in (PAID, FULFILLED) or order.payment_id is not None:
            raise FailedPrecondition(
                "a paid order cannot be cancelled; it is being fulfilled",
                reason="ORDER_PAID",
                metadata={"order": f"orders/{order_id}", "status": order.status},
            )
        if order.status in (EXPIRED, FAILED):
            raise order_closed(order)
        if order.status in (PENDING, PENDING_PAYMENT) and order.payment_deadline is not None:
            cancelled = await self.lifecycle.cancel_pending(order)
            return pb.CancelOrderResponse(order=order_message(cancelled))
        settled = await self.settle(order)
        if settled is None:
            raise NotFound(
                f"order {order_id!r} not found",
                reason="ORDER_NOT_FOUND",
                metadata={"order_id": order_id},
            )
        if settled.status == CONFIRMED:
            # Stock first: if inventory is unreachable the order stays confirmed and
            # a retry finishes the job (returning is idempotent).
            await self.clients.call(
                self._inventory().ReturnReservation,
                inventory_pb2.ReturnReservationRequest(
                    name=f"reservations/{settled.reservation_id}"
                ),
                service="inventory",
            )
            # False when a concurrent cancel won: the order is cancelled either way.
            await self.store.set_status(order_id, CONFIRMED, CANCELLED)
            self.events.publish(order_id)
        return pb.CancelOrderResponse(order=order_message(await self.store.get(order_id)))

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: Context
    ) -> pb.ConfirmPaymentResponse:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        card = parse_card(request.card if request.HasField("card") else None)
        order = await self._visible(order_id)
        paid = await self.lifecycle.confirm(order, card)
        return pb.ConfirmPaymentResponse(order=order_message(paid))

    async def AwaitPayment(
        self, request: pb.AwaitPaymentRequest, context: Context
    ) -> pb.AwaitPaymentResponse:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        v = Violations()
        v.require(0 < len(request.task_token) <= 8192, "task_token", "1-8192 characters")
        v.check("invalid task token")
        order = await self.lifecycle.await_payment(order_id, request.task_token)
        return pb.AwaitPaymentResponse(order=order_message(order))

    async def AdvanceOrder(
        self, request: pb.AdvanceOrderRequest, context: Context
    ) -> pb.AdvanceOrderResponse:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        status = _STATUS_NAMES.get(request.status)
        if status not in WORKFLOW_MOVES:
            raise InvalidArgument(
                f"status must be one of {', '.join(WORKFLOW_MOVES)}",
                violations=[FieldViolation("status", "a status the workflow reaches")],
            )
        order = await self.lifecycle.advance(order_id, status)
        return pb.AdvanceOrderResponse(order=order_message(order))

    async def WatchOrder(
        self, request: pb.WatchOrderRequest, context: Context
    ) -> AsyncIterator[pb.WatchOrderResponse]:
        order_id = parse_name(request.name, "orders", ORDER_ID)
        with self.events.subscribe(order_id) as changes:
            order = await self._visible(order_id)
            yield pb.WatchOrderResponse(order=order_message(order))
            while order.status not in FINAL:
                if self.events.closed.is_set():
                    raise Unavailable(
                        "server is shutting down; watch again", reason="SHUTTING_DOWN"
                    )
                await changes.wait(self.watch_poll)
                # Each state this process published, in turn (PAID may last a
                # millisecond before FULFILLED); the store when the poll found
                # none (another replica's change) or a state was not given.
                for latest in changes.take() or [None]:
                    if latest is None:
                        latest = await self.store.get(order_id)
                    elif latest.update_time < order.update_time:
                        continue  # a late publisher's older state
                    if (latest.status, latest.update_time) != (order.status, order.update_time):
                        order = latest
                        yield pb.WatchOrderResponse(order=order_message(order))


_CARD_NUMBER = re.compile(r"^[0-9]{12,19}\Z")
_CVC = re.compile(r"^[0-9]{3,4}\Z")


def parse_card(card: pb.PaymentCard | None) -> Card:
    """The card, checked; the number is never echoed back in an error (or anywhere)."""
    if card is None:
        raise InvalidArgument("a card is required", violations=[FieldViolation("card", "required")])
    v = Violations()
    number = card.number.replace(" ", "").replace("-", "")
    if v.require(bool(_CARD_NUMBER.match(number)), "card.number", "12-19 digits"):
        v.require(luhn_valid(number), "card.number", "not a valid card number (check digit)")
    v.require(1 <= card.exp_month <= 12, "card.exp_month", "1-12")
    if v.require(2000 <= card.exp_year <= 2100, "card.exp_year", "a four-digit year"):
        now = time.gmtime()
        v.require(
            (card.exp_year, card.exp_month) >= (now.tm_year, now.tm_mon),
            "card.exp_year",
            "the card has expired",
        )
    v.require(bool(_CVC.match(card.cvc)), "card.cvc", "3-4 digits")
    v.check("invalid card")
    return Card(number, card.exp_month, card.exp_year, card.cvc)


def luhn_valid(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
