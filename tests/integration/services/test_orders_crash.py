"""Orders killed at each step of CreateOrder: a real process that exits at the
step (MESH_FAULT_EXIT_AT, ``os._exit``: no cleanup, like SIGKILL), then a fresh
one. Whatever the step, the end is a confirmed order with its stock committed,
or no order with its stock back; never a third state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc import aio

from mesh.probe import check_grpc
from services.orders.servicer import FAULT_EXIT_CODE
from shop.catalog.v1 import catalog_pb2 as cpb
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2 as ipb
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.support.mesh import PAGE_TOKEN_KEY, Running, db_url_for, reset, serve
from tests.support.waiting import until, until_sync

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def orders_process(
    db_url: str, endpoints: str, data: Path, port: int, fault: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m services.orders`` on ``port``, returned once its health check is SERVING."""
    env = {
        **os.environ,
        "MESH_REGISTRY": "static",
        "MESH_STATIC_ENDPOINTS": endpoints,
        "MESH_REGISTER": "false",
        "MESH_PAGE_TOKEN_KEY": PAGE_TOKEN_KEY,
        "MESH_PORT": str(port),
        "MESH_DATA_DIR": str(data),
        "ORDERS_DATABASE_URL": db_url,
        "MESH_ORDER_SETTLE_SECONDS": "0.2",
        "MESH_FAULT_EXIT_AT": fault,
        # The crash points of the legacy lifecycle (commit, then confirm); under the
        # workflow settling starts the execution (tests/integration/workflow).
        "MESH_WORKFLOW": "off",
    }
    path = data / f"orders-{fault or 'clean'}.log"
    with path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.orders"], env=env, stdout=log, stderr=log, cwd=ROOT
        )
    try:

        def serving() -> bool:
            assert process.poll() is None, path.read_text()
            return check_grpc(f"127.0.0.1:{port}", "", 1.0)[0]

        until_sync(serving, timeout=60, what="orders to report SERVING")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


async def stock_of(inventory: Running) -> tuple[int, int]:
    stub = inventory_pb2_grpc.InventoryServiceStub(inventory.channel)
    found = (await stub.GetStock(ipb.GetStockRequest(name="stocks/mug"))).stock
    return found.on_hand, found.reserved


async def orders_in(port: int) -> list[pb.Order]:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        return list((await stub.ListOrders(pb.ListOrdersRequest(page_size=100))).orders)


async def create(port: int) -> pb.Order:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        request = pb.CreateOrderRequest(
            request_id="crash-1", lines=[pb.OrderLineInput(sku="mug", quantity=3)]
        )
        return (await stub.CreateOrder(request, timeout=15)).order


@pytest.mark.parametrize(
    ("step", "outcome"),
    [
        ("after-reserve", "no order"),  # the reservation lapses, its stock comes back
        ("after-write", "confirmed"),  # the pending order is settled by the next process
        ("after-commit", "confirmed"),
        ("after-write", "lapsed"),  # orders stays down past the TTL: the order never was
    ],
)
async def test_orders_killed_at_each_step(
    step: str, outcome: str, db_kind: str, tmp_path: Path, pg_url: str | None
) -> None:
    # Short TTLs where the reservation must lapse; long where it must not.
    ttl = "60" if outcome == "confirmed" else "0.5"
    inventory_env = {"MESH_RESERVATION_TTL_SECONDS": ttl, "MESH_RESERVATION_SWEEP_SECONDS": "0.05"}
    orders_url = db_url_for(db_kind, tmp_path, "orders", pg_url)
    async with (
        serve("catalog", db_url_for(db_kind, tmp_path, "catalog", pg_url)) as catalog,
        serve(
            "inventory", db_url_for(db_kind, tmp_path, "inventory", pg_url), env=inventory_env
        ) as inventory,
    ):
        await catalog_pb2_grpc.CatalogServiceStub(catalog.channel).CreateProduct(
            cpb.CreateProductRequest(
                product=cpb.Product(
                    sku="mug",
                    display_name="Mug",
                    price=Money(currency_code="EUR", amount_minor=500),
                    active=True,
                )
            )
        )
        await inventory_pb2_grpc.InventoryServiceStub(inventory.channel).SetStock(
            ipb.SetStockRequest(name="stocks/mug", on_hand=10)
        )
        endpoints = f"catalog={catalog.address};inventory={inventory.address}"
        port = free_port()
        with orders_process(orders_url, endpoints, tmp_path, port, fault=step) as doomed:
            if db_kind == "postgres":
                async with serve(
                    "orders", orders_url, env={"MESH_STATIC_ENDPOINTS": endpoints}
                ) as o:
                    await reset(
                        o.database, "orders"
                    )  # the session's database held other tests' orders
            with pytest.raises(aio.AioRpcError) as failed:
                await create(port)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
            assert doomed.wait(30) == FAULT_EXIT_CODE  # it really died there

        if outcome == "lapsed":
            # Nothing of orders runs while the reservation lapses.
            async def released() -> bool:
                return await stock_of(inventory) == (10, 0)

            await until(released, what="the lapsed reservation's stock to come back")

        with orders_process(orders_url, endpoints, tmp_path, port):
            if outcome == "confirmed":

                async def settled() -> list[pb.Order]:
                    found = await orders_in(port)
                    return [o for o in found if o.status == pb.Order.STATUS_CONFIRMED]

                [order] = await until(settled, what="the settler to confirm the pending order")
                assert await stock_of(inventory) == (7, 0)  # committed, not merely held
                # The client's retry gets that very order, and takes no more stock.
                assert (await create(port)).name == order.name
                assert await stock_of(inventory) == (7, 0)
            else:

                async def back() -> bool:
                    return await stock_of(inventory) == (10, 0) and not await orders_in(port)

                await until(back, what="no order, and all the stock back")
                # The client's retry now makes the order afresh.
                again = await create(port)
                assert again.status == pb.Order.STATUS_CONFIRMED
                assert await stock_of(inventory) == (7, 0)
                assert [o.name for o in await orders_in(port)] == [again.name]
