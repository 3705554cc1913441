"""CartsService over real gRPC: Redis (the real server) and the embedded store, the real
catalog and orders; checkout places one order as the customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest

from mesh.principal import Principal, to_metadata
from services.carts import app
from shop.carts.v1 import carts_pb2 as pb
from shop.carts.v1 import carts_pb2_grpc as pb_grpc
from shop.orders.v1 import orders_pb2 as opb
from tests.integration.services.test_orders import seed
from tests.support.assertions import invalid, reason
from tests.support.mesh import Shop, shop
from tests.support.service import serve_app, store_env

CUSTOMER = ("carts.read", "carts.write", "orders.read", "orders.write")
ALICE = to_metadata(Principal.user("alice", CUSTOMER))
BOB = to_metadata(Principal.user("bob", CUSTOMER))


class Carts:
    def __init__(self, shop: Shop, replicas: list[pb_grpc.CartsServiceAsyncStub]) -> None:
        self.shop = shop
        self.replicas = replicas
        self.stub = replicas[0]


@pytest.fixture(params=["redis", "embedded"])
async def carts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Carts]:
    async with AsyncExitStack() as stack:
        running = await stack.enter_async_context(shop("sqlite", tmp_path, None))
        env = await stack.enter_async_context(store_env("carts", request.param, tmp_path))
        env["MESH_STATIC_ENDPOINTS"] = (
            f"catalog={running.catalog.address};orders={running.orders.address}"
        )
        stubs = []
        for _ in range(2):  # two replicas on one store
            replica = await stack.enter_async_context(serve_app("carts", app, env))
            stubs.append(pb_grpc.CartsServiceStub(replica.channel))
        yield Carts(running, stubs)  # type: ignore[arg-type]


async def test_lines_are_added_changed_removed_and_priced(carts: Carts) -> None:
    await seed(carts.shop, "mug", 1200, 10)
    await seed(carts.shop, "tea", 450, 10)
    stub = carts.stub
    await stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=ALICE)
    await stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=ALICE)
    cart = (await stub.AddCartLine(pb.AddCartLineRequest(sku="tea", quantity=3), metadata=ALICE)).cart
    assert [(line.sku, line.quantity, line.line_total.amount_minor) for line in cart.lines] == [
        ("mug", 2, 2400),
        ("tea", 3, 1350),
    ]
    assert cart.total.amount_minor == 3750 and cart.total.currency_code == "EUR"
    cart = (
        await stub.UpdateCartLine(pb.UpdateCartLineRequest(sku="tea", quantity=1), metadata=ALICE)
    ).cart
    assert cart.total.amount_minor == 2850
    cart = (await stub.RemoveCartLine(pb.RemoveCartLineRequest(sku="mug"), metadata=ALICE)).cart
    assert [line.sku for line in cart.lines] == ["tea"]
    # Bob's cart is his own, and a call without a user has none.
    assert not (await stub.GetCart(pb.GetCartRequest(), metadata=BOB)).cart.lines
    assert await reason(stub.GetCart(pb.GetCartRequest()), grpc.StatusCode.PERMISSION_DENIED) == (
        "CUSTOMER_REQUIRED"
    )


async def test_bad_lines_are_refused(carts: Carts) -> None:
    stub = carts.stub
    await invalid(stub.AddCartLine(pb.AddCartLineRequest(sku="", quantity=0), metadata=ALICE),
                  "sku", "quantity")
    call = stub.AddCartLine(pb.AddCartLineRequest(sku="ghost", quantity=1), metadata=ALICE)
    assert await reason(call, grpc.StatusCode.INVALID_ARGUMENT) == "PRODUCT_NOT_FOUND"
    call2 = stub.UpdateCartLine(pb.UpdateCartLineRequest(sku="mug", quantity=2), metadata=ALICE)
    assert await reason(call2, grpc.StatusCode.NOT_FOUND) == "CART_LINE_NOT_FOUND"


async def test_two_replicas_adding_at_once_lose_no_line(carts: Carts) -> None:
    skus = [f"p{n}" for n in range(12)]
    for sku in skus:
        await seed(carts.shop, sku, 100, 10)
    await asyncio.gather(*(
        carts.replicas[n % 2].AddCartLine(pb.AddCartLineRequest(sku=sku, quantity=1), metadata=ALICE)
        for n, sku in enumerate(skus)
    ))
    cart = (await carts.stub.GetCart(pb.GetCartRequest(), metadata=ALICE)).cart
    assert sorted(line.sku for line in cart.lines) == sorted(skus)
    assert cart.version == len(skus)


async def test_checkout_places_one_order_as_the_customer_and_empties_the_cart(
    carts: Carts,
) -> None:
    await seed(carts.shop, "mug", 1200, 10)
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=2), metadata=ALICE)
    # Two checkouts of the same cart at once (a retry racing the first): one order.
    first, second = await asyncio.gather(
        carts.replicas[0].CheckoutCart(pb.CheckoutCartRequest(), metadata=ALICE),
        carts.replicas[1].CheckoutCart(pb.CheckoutCartRequest(), metadata=ALICE),
        return_exceptions=True,
    )
    names = {r.order for r in (first, second) if isinstance(r, pb.CheckoutCartResponse)}
    assert len(names) == 1, (first, second)
    orders = carts.shop.orders_stub
    mine = (await orders.ListOrders(opb.ListOrdersRequest(page_size=10), metadata=ALICE)).orders
    assert [o.name for o in mine] == list(names)
    assert [(line.sku, line.quantity) for line in mine[0].lines] == [("mug", 2)]
    bobs = (await orders.ListOrders(opb.ListOrdersRequest(page_size=10), metadata=BOB)).orders
    assert not bobs
    assert not (await carts.stub.GetCart(pb.GetCartRequest(), metadata=ALICE)).cart.lines
    again = carts.stub.CheckoutCart(pb.CheckoutCartRequest(), metadata=ALICE)
    assert await reason(again, grpc.StatusCode.FAILED_PRECONDITION) == "CART_EMPTY"


async def two_mugs_in_alices_cart(carts: Carts) -> None:
    await seed(carts.shop, "mug", 1200, 10)
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=2), metadata=ALICE)


async def orders_of(carts: Carts, who: tuple[tuple[str, str], ...]) -> list[str]:
    listed = await carts.shop.orders_stub.ListOrders(
        opb.ListOrdersRequest(page_size=10), metadata=who
    )
    return [o.name for o in listed.orders]


async def test_a_checkout_retried_with_its_request_id_answers_with_the_same_order(
    carts: Carts,
) -> None:
    await two_mugs_in_alices_cart(carts)
    request = pb.CheckoutCartRequest(request_id="checkout-7f3a")
    first = await carts.replicas[0].CheckoutCart(request, metadata=ALICE)
    assert first.order.startswith("orders/") and not first.cart.lines
    # Its answer was lost; the retry (on the other replica) finds the cart empty
    # but answers with the order, and places nothing more.
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=ALICE)
    again = await carts.replicas[1].CheckoutCart(request, metadata=ALICE)
    assert again.order == first.order
    assert [(line.sku, line.quantity) for line in again.cart.lines] == [("mug", 1)]
    assert await orders_of(carts, ALICE) == [first.order]
    # The key is the customer's own: Bob's checkout with it is his, not Alice's order.
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=BOB)
    bobs = await carts.stub.CheckoutCart(request, metadata=BOB)
    assert bobs.order != first.order
    # A new key is a new checkout of what the cart holds now.
    second = await carts.stub.CheckoutCart(
        pb.CheckoutCartRequest(request_id="checkout-8e1b"), metadata=ALICE
    )
    assert second.order not in (first.order, bobs.order) and not second.cart.lines


async def test_twin_checkouts_with_one_request_id_name_one_order_and_take_the_lines_once(
    carts: Carts,
) -> None:
    await two_mugs_in_alices_cart(carts)
    request = pb.CheckoutCartRequest(request_id="twin-1")
    answers = await asyncio.gather(
        *(carts.replicas[n % 2].CheckoutCart(request, metadata=ALICE) for n in range(4))
    )
    assert len({a.order for a in answers}) == 1
    assert not (await carts.stub.GetCart(pb.GetCartRequest(), metadata=ALICE)).cart.lines
    assert await orders_of(carts, ALICE) == [answers[0].order]


@pytest.mark.parametrize(
    "bad", ["-starts-with-a-dash", "has space", 'quote"', "x" * 129, "é", "a/b", "\x00"]
)
async def test_a_malformed_checkout_request_id_is_refused_and_places_nothing(
    carts: Carts, bad: str
) -> None:
    await seed(carts.shop, "mug", 1200, 10)
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=ALICE)
    await invalid(
        carts.stub.CheckoutCart(pb.CheckoutCartRequest(request_id=bad), metadata=ALICE),
        "request_id",
    )
    assert (await carts.stub.GetCart(pb.GetCartRequest(), metadata=ALICE)).cart.lines
    assert await orders_of(carts, ALICE) == []


async def test_checkout_needs_the_customers_orders_write_scope(carts: Carts) -> None:
    """orders checks the forwarded principal's scopes itself: carts.write alone places nothing."""
    await seed(carts.shop, "mug", 1200, 10)
    cart_only = to_metadata(Principal.user("carol", ("carts.read", "carts.write")))
    await carts.stub.AddCartLine(pb.AddCartLineRequest(sku="mug", quantity=1), metadata=cart_only)
    call = carts.stub.CheckoutCart(pb.CheckoutCartRequest(), metadata=cart_only)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await carts.stub.GetCart(pb.GetCartRequest(), metadata=cart_only)).cart.lines


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _redis_server(port: int, tmp: Path) -> asyncio.subprocess.Process:
    from mesh.kv.select import local_redis_answers

    process = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(tmp),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(200):  # wait for it to answer PING
        if await asyncio.to_thread(local_redis_answers, ("127.0.0.1", port), 0.1):
            return process
        await asyncio.sleep(0.025)
    process.kill()
    raise AssertionError("redis-server did not start")


async def test_redis_down_is_unavailable_naming_it_and_recovers_without_restart(
    tmp_path: Path,
) -> None:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    redis = await _redis_server(port, tmp_path)
    env = {
        "CARTS_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "MESH_DATA_DIR": str(tmp_path),
        "MESH_CALL_TIMEOUT_SECONDS": "2",
    }
    try:
        async with serve_app("carts", app, env) as running:
            stub = pb_grpc.CartsServiceStub(running.channel)
            await stub.GetCart(pb.GetCartRequest(), metadata=ALICE)
            redis.kill()
            await redis.wait()
            with pytest.raises(grpc.aio.AioRpcError) as down:
                await stub.GetCart(pb.GetCartRequest(), metadata=ALICE)
            assert down.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "redis" in (down.value.details() or "")
            redis = await _redis_server(port, tmp_path)
            assert not (await stub.GetCart(pb.GetCartRequest(), metadata=ALICE)).cart.lines
    finally:
        if redis.returncode is None:
            redis.kill()
            await redis.wait()
