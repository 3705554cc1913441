"""OrdersService across three real servers: catalog, inventory and orders."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import text

from shop.catalog.v1 import catalog_pb2 as cpb
from shop.inventory.v1 import inventory_pb2 as ipb
from shop.orders.v1 import orders_pb2 as pb
from shop.type.v1.money_pb2 import Money
from tests.support.assertions import invalid, reason, rpc_error
from tests.support.mesh import Shop

FAILED = grpc.StatusCode.FAILED_PRECONDITION


async def seed(
    mesh: Shop, sku: str, price: int, on_hand: int, *, currency: str = "EUR", active: bool = True
) -> None:
    product = cpb.Product(
        sku=sku,
        display_name=sku.title(),
        price=Money(currency_code=currency, amount_minor=price),
        active=active,
    )
    await mesh.catalog_stub.CreateProduct(cpb.CreateProductRequest(product=product))
    await mesh.inventory_stub.SetStock(ipb.SetStockRequest(name=f"stocks/{sku}", on_hand=on_hand))


async def available(mesh: Shop, sku: str) -> int:
    return (
        await mesh.inventory_stub.GetStock(ipb.GetStockRequest(name=f"stocks/{sku}"))
    ).stock.available


def order_request(request_id: str, *lines: tuple[str, int]) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        request_id=request_id, lines=[pb.OrderLineInput(sku=s, quantity=q) for s, q in lines]
    )


async def order_count(mesh: Shop) -> int:
    return len((await mesh.orders_stub.ListOrders(pb.ListOrdersRequest(page_size=1000))).orders)


async def test_create_prices_from_catalog_and_reserves_stock(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    await seed(mesh, "tea", 450, 5)
    order = (await mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 2), ("tea", 3)))).order
    assert order.status == pb.Order.STATUS_CONFIRMED
    assert [
        (line.sku, line.quantity, line.unit_price.amount_minor, line.line_total.amount_minor)
        for line in order.lines
    ] == [
        ("mug", 2, 1200, 2400),
        ("tea", 3, 450, 1350),
    ]
    assert (order.total.currency_code, order.total.amount_minor) == ("EUR", 3750)
    assert (await available(mesh, "mug"), await available(mesh, "tea")) == (8, 2)
    got = (await mesh.orders_stub.GetOrder(pb.GetOrderRequest(name=order.name))).order
    assert got == order
    # The reservation is the mesh's business: no handle to it reaches a caller.
    assert "reservation" not in pb.Order.DESCRIPTOR.fields_by_name


async def test_create_is_idempotent_by_request_id(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    first = (await mesh.orders_stub.CreateOrder(order_request("same", ("mug", 2)))).order
    again = (await mesh.orders_stub.CreateOrder(order_request("same", ("mug", 2)))).order
    assert again == first
    twins = await asyncio.gather(
        *(mesh.orders_stub.CreateOrder(order_request("twin", ("mug", 1))) for _ in range(5))
    )
    assert len({t.order.name for t in twins}) == 1
    assert await available(mesh, "mug") == 7
    assert await order_count(mesh) == 2
    call = mesh.orders_stub.CreateOrder(order_request("same", ("mug", 3)))
    assert await reason(call, grpc.StatusCode.ALREADY_EXISTS) == "REQUEST_ID_REUSED"


async def test_create_errors_write_nothing(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 2)
    await seed(mesh, "old", 100, 5, active=False)
    await seed(mesh, "usd", 100, 5, currency="USD")
    stub = mesh.orders_stub
    assert (
        await reason(stub.CreateOrder(order_request("a", ("mug", 3))), FAILED)
        == "INSUFFICIENT_STOCK"
    )
    assert (
        await reason(stub.CreateOrder(order_request("b", ("mug", 1), ("old", 1))), FAILED)
        == "PRODUCT_INACTIVE"
    )
    assert (
        await reason(stub.CreateOrder(order_request("c", ("mug", 1), ("usd", 1))), FAILED)
        == "MIXED_CURRENCIES"
    )
    await invalid(stub.CreateOrder(order_request("d", ("mug", 1), ("ghost", 1))), "lines[1].sku")
    assert await available(mesh, "mug") == 2
    assert await order_count(mesh) == 0


async def test_hostile_input(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stub = mesh.orders_stub
    await invalid(stub.CreateOrder(order_request("", ("mug", 1))), "request_id")
    await invalid(stub.CreateOrder(order_request("../../etc", ("mug", 1))), "request_id")
    await invalid(stub.CreateOrder(order_request("x" * 129, ("mug", 1))), "request_id")
    await invalid(stub.CreateOrder(order_request("r")), "lines")
    await invalid(stub.CreateOrder(order_request("r", ("mug", 0))), "lines[0].quantity")
    await invalid(stub.CreateOrder(order_request("r", ("mug", -1))), "lines[0].quantity")
    await invalid(stub.CreateOrder(order_request("r", ("mug", 2**62))), "lines[0].quantity")
    await invalid(
        stub.CreateOrder(order_request("r", ("mug'; DROP TABLE orders;--", 1))), "lines[0].sku"
    )
    await invalid(stub.CreateOrder(order_request("r", ("mug", 1), ("mug", 1))), "lines[1].sku")
    await invalid(stub.CreateOrder(order_request("r", ("mug\n", 1))), "lines[0].sku")
    await invalid(stub.CreateOrder(order_request("r\n", ("mug", 1))), "request_id")
    for name in ["", "orders/", "orders/../x", "orders/" + "f" * 33, "products/" + "f" * 32]:
        await invalid(stub.GetOrder(pb.GetOrderRequest(name=name)), "name")
    await reason(
        stub.GetOrder(pb.GetOrderRequest(name="orders/" + "0" * 32)), grpc.StatusCode.NOT_FOUND
    )
    await invalid(stub.ListOrders(pb.ListOrdersRequest(page_token="nope")), "page_token")
    await invalid(stub.ListOrders(pb.ListOrdersRequest(page_size=-5)), "page_size")
    big = order_request("big", ("mug", 1))
    big.request_id = "r" * (5 * 1024 * 1024)
    await rpc_error(stub.CreateOrder(big), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert await available(mesh, "mug") == 10
    assert await order_count(mesh) == 0


async def stock_of(mesh: Shop, sku: str) -> tuple[int, int]:
    """(on_hand, reserved) of a sku."""
    found = (await mesh.inventory_stub.GetStock(ipb.GetStockRequest(name=f"stocks/{sku}"))).stock
    return found.on_hand, found.reserved


async def test_a_confirmed_order_has_committed_its_stock(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    order = (await mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 4)))).order
    assert order.status == pb.Order.STATUS_CONFIRMED
    # Taken out of the stock on hand, not merely held: it can no longer lapse.
    assert await stock_of(mesh, "mug") == (6, 0)


async def test_cancel_returns_stock_once_and_a_second_cancel_returns_the_order(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    order = (await mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 4)))).order
    assert await available(mesh, "mug") == 6
    cancelled = (await mesh.orders_stub.CancelOrder(pb.CancelOrderRequest(name=order.name))).order
    assert cancelled.status == pb.Order.STATUS_CANCELLED
    assert await stock_of(mesh, "mug") == (10, 0)
    again = (await mesh.orders_stub.CancelOrder(pb.CancelOrderRequest(name=order.name))).order
    assert again == cancelled
    assert await stock_of(mesh, "mug") == (10, 0)  # returned once, not twice
    await reason(
        mesh.orders_stub.CancelOrder(pb.CancelOrderRequest(name="orders/" + "a" * 32)),
        grpc.StatusCode.NOT_FOUND,
    )
    await invalid(mesh.orders_stub.CancelOrder(pb.CancelOrderRequest(name="x")), "name")
    # A retry of the create after cancelling returns the cancelled order; it does not reserve again.
    retried = (await mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 4)))).order
    assert retried.status == pb.Order.STATUS_CANCELLED
    assert await available(mesh, "mug") == 10


async def test_list_orders_paginates_newest_first(mesh: Shop) -> None:
    await seed(mesh, "mug", 100, 100)
    names = [
        (await mesh.orders_stub.CreateOrder(order_request(f"r{i}", ("mug", 1)))).order.name
        for i in range(5)
    ]
    seen: list[str] = []
    token = ""
    while True:
        page = await mesh.orders_stub.ListOrders(
            pb.ListOrdersRequest(page_size=2, page_token=token)
        )
        seen += [o.name for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(names))


async def test_watch_sees_each_change(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    order = (await mesh.orders_stub.CreateOrder(order_request("w", ("mug", 1)))).order
    stream = mesh.orders_stub.WatchOrder(pb.WatchOrderRequest(name=order.name))
    seen: list[int] = []
    first = asyncio.Event()

    async def read() -> None:
        async for event in stream:
            seen.append(event.order.status)
            first.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(first.wait(), 5)  # the watch is open: it sent the current status
    await mesh.orders_stub.CancelOrder(pb.CancelOrderRequest(name=order.name))
    await asyncio.wait_for(reader, 5)  # the stream ends by itself at the final status
    assert seen == [pb.Order.STATUS_CONFIRMED, pb.Order.STATUS_CANCELLED]


async def test_watch_errors(mesh: Shop) -> None:
    missing = mesh.orders_stub.WatchOrder(pb.WatchOrderRequest(name="orders/" + "b" * 32))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in missing:
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    bad = mesh.orders_stub.WatchOrder(pb.WatchOrderRequest(name="nope"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in bad:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_failure_after_reservation_releases_it(mesh: Shop) -> None:
    """The orders database refuses the write (a real trigger): the reserved stock comes back."""
    await seed(mesh, "mug", 1200, 10)
    engine = mesh.orders.database.engine
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
    try:
        error = await rpc_error(
            mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 3))), grpc.StatusCode.INTERNAL
        )
        assert "disk on fire" not in (error.details() or "")  # internals are not leaked
        assert await available(mesh, "mug") == 10
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "DROP TRIGGER refuse"
                    + ("" if engine.dialect.name == "sqlite" else " ON orders")
                )
            )
            if engine.dialect.name != "sqlite":
                await conn.execute(text("DROP FUNCTION refuse()"))
    # The same request id works once the database is back.
    order = (await mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 3)))).order
    assert order.status == pb.Order.STATUS_CONFIRMED
    assert await available(mesh, "mug") == 7


async def test_dependency_down_is_unavailable_and_leaks_nothing(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    await mesh.catalog.server.stop(0)
    await rpc_error(
        mesh.orders_stub.CreateOrder(order_request("r1", ("mug", 1))), grpc.StatusCode.UNAVAILABLE
    )
    assert await available(mesh, "mug") == 10
    assert await order_count(mesh) == 0


async def test_an_order_of_20_lines_asks_the_catalog_once(
    mesh: Shop, capfd: pytest.CaptureFixture[str]
) -> None:
    skus = [f"sku-{n:02d}" for n in range(20)]
    for sku in skus:
        await seed(mesh, sku, 100, 5)
    assert mesh.catalog.server.access_log is not None
    mesh.catalog.server.access_log.flush()
    capfd.readouterr()
    order = (
        await mesh.orders_stub.CreateOrder(order_request("big", *((s, 1) for s in skus)))
    ).order
    assert len(order.lines) == 20
    mesh.catalog.server.access_log.flush()
    calls = [line for line in capfd.readouterr().err.splitlines() if "CatalogService/" in line]
    assert len(calls) == 1 and "BatchGetProducts" in calls[0], calls
