"""The database goes away under load and comes back: connections cut mid-stream
by a TCP proxy in front of the real PostgreSQL, the proxy refusing connections
for a while, and a real restart of a server the test owns.

Calls fail only while the database is away, and then as UNAVAILABLE (which the
mesh retries), never INTERNAL; everything recovers without restarting a
process; no confirmed order is lost or doubled, and the stock adds up.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from grpc import aio

from mesh.channels import ChannelPolicy, retry_methods, service_config
from mesh.protos import service_descriptor
from shop.catalog.v1 import catalog_pb2 as cpb
from shop.inventory.v1 import inventory_pb2 as ipb
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.support.mesh import Shop, shop
from tests.support.pgserver import OwnedPostgres, owned_postgres
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STOCK = 100_000
FAST = {
    "MESH_RESERVATION_TTL_SECONDS": "1",
    "MESH_RESERVATION_SWEEP_SECONDS": "0.1",
    "MESH_ORDER_SETTLE_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def server() -> Iterator[OwnedPostgres]:
    with owned_postgres() as owned:
        yield owned


@pytest.fixture
async def proxy(server: OwnedPostgres) -> AsyncIterator[TcpProxy]:
    running = TcpProxy("127.0.0.1", server.port)
    await running.start()
    yield running
    await running.close()


def retrying_channel(address: str) -> aio.Channel:
    """A client with the mesh's own retry policy (UNAVAILABLE, idempotent methods)."""
    config = service_config(
        retry_methods([service_descriptor("shop.orders.v1.OrdersService")]), ChannelPolicy()
    )
    return aio.insecure_channel(
        address, options=[("grpc.enable_retries", 1), ("grpc.service_config", config)]
    )


class Load:
    """Workers creating one-mug orders until stopped; every answer's code is kept."""

    def __init__(self, stub: orders_pb2_grpc.OrdersServiceAsyncStub, workers: int = 4) -> None:
        self.stub = stub
        self.codes: Counter[str] = Counter()
        self.ok: dict[str, str] = {}  # request_id -> order name
        self.failed: list[str] = []
        self._stop = asyncio.Event()
        self._ids = itertools.count()
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]
        self.progress = asyncio.Event()

    async def _work(self) -> None:
        while not self._stop.is_set():
            request_id = f"load-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
            request = pb.CreateOrderRequest(
                request_id=request_id, lines=[pb.OrderLineInput(sku="mug", quantity=1)]
            )
            try:
                reply = await self.stub.CreateOrder(request, timeout=10)
                self.ok[request_id] = reply.order.name
                self.codes["OK"] += 1
            except aio.AioRpcError as exc:
                self.codes[exc.code().name] += 1
                self.failed.append(request_id)
            self.progress.set()

    async def successes_beyond(self, count: int) -> None:
        """Wait until the load has made ``count`` more orders: proof it is flowing."""
        target = self.codes["OK"] + count

        async def reached() -> bool:
            return self.codes["OK"] >= target

        await until(reached, timeout=30, what=f"{count} more successful orders")

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._workers)


async def check_books(mesh: Shop, load: Load) -> None:
    """Every order that was answered OK exists once; the stock adds up."""

    async def settled() -> bool:
        stock = (await mesh.inventory_stub.GetStock(ipb.GetStockRequest(name="stocks/mug"))).stock
        orders = await all_orders(mesh)
        pending = [o for o in orders if o.status == pb.Order.STATUS_PENDING]
        return stock.reserved == 0 and not pending

    await until(settled, timeout=30, what="reservations to lapse and pending orders to settle")
    orders = await all_orders(mesh)
    by_request = Counter(o.request_id for o in orders)
    assert all(by_request[r] == 1 for r in load.ok), "an acknowledged order is missing or doubled"
    assert {o.name for o in orders if o.request_id in load.ok} == set(load.ok.values())
    stock = (await mesh.inventory_stub.GetStock(ipb.GetStockRequest(name="stocks/mug"))).stock
    confirmed = sum(
        line.quantity for o in orders if o.status == pb.Order.STATUS_CONFIRMED for line in o.lines
    )
    assert stock.on_hand + confirmed == STOCK


async def all_orders(mesh: Shop) -> list[pb.Order]:
    found: list[pb.Order] = []
    token = ""
    while True:
        page = await mesh.orders_stub.ListOrders(
            pb.ListOrdersRequest(page_size=1000, page_token=token)
        )
        found += page.orders
        token = page.next_page_token
        if not token:
            return found


async def seed(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(
        cpb.CreateProductRequest(
            product=cpb.Product(
                sku="mug",
                display_name="Mug",
                price=Money(currency_code="EUR", amount_minor=100),
                active=True,
            )
        )
    )
    await mesh.inventory_stub.SetStock(ipb.SetStockRequest(name="stocks/mug", on_hand=STOCK))


@pytest.mark.parametrize("outage", ["cut", "refuse", "restart"])
async def test_the_database_goes_away_under_load(
    outage: str, server: OwnedPostgres, proxy: TcpProxy, tmp_path: Path
) -> None:
    database = f"outage_{outage}_{uuid.uuid4().hex[:6]}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
    async with shop("postgres", tmp_path, url, every_env=FAST) as mesh:
        await seed(mesh)
        channel = retrying_channel(mesh.orders.address)
        load = Load(orders_pb2_grpc.OrdersServiceStub(channel))  # type: ignore[arg-type]
        try:
            await load.successes_beyond(20)
            if outage == "cut":
                for _ in range(3):
                    assert proxy.cut() > 0  # the pools had live connections: now all dead
                    await load.successes_beyond(20)
            elif outage == "refuse":
                await proxy.refuse()
                # While it is away, calls fail: UNAVAILABLE, after the retries.

                async def failing() -> bool:
                    return load.codes["UNAVAILABLE"] >= 5

                await until(failing, what="calls to fail while the database is away")
                await proxy.accept()
                await load.successes_beyond(20)
            else:
                await asyncio.to_thread(server.restart)
                await load.successes_beyond(20)
        finally:
            await load.stop()
            await channel.close(None)
        assert set(load.codes) <= {"OK", "UNAVAILABLE"}, load.codes
        if outage == "cut":
            # Dropped connections are replaced (pre-ping) and retried: nothing fails.
            assert load.codes["UNAVAILABLE"] == 0, load.codes
        # The client's own retry of the failed ones (same request ids) completes them.
        for request_id in load.failed:
            request = pb.CreateOrderRequest(
                request_id=request_id, lines=[pb.OrderLineInput(sku="mug", quantity=1)]
            )
            load.ok[request_id] = (await mesh.orders_stub.CreateOrder(request)).order.name
        await check_books(mesh, load)
        print(f"{outage}: {dict(load.codes)}")
