"""Helpers for mesh resilience tests: seed data, steady call streams, child processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc import aio

from mesh.clients import Clients
from mesh.server import MeshServer
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money


async def seed(catalog: aio.Channel, inventory: aio.Channel, on_hand: int = 100_000) -> None:
    await catalog_pb2_grpc.CatalogServiceStub(catalog).CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=catalog_pb2.Product(
                sku="mug",
                display_name="Mug",
                price=Money(currency_code="EUR", amount_minor=100),
                active=True,
            )
        )
    )
    await inventory_pb2_grpc.InventoryServiceStub(inventory).SetStock(
        inventory_pb2.SetStockRequest(name="stocks/mug", on_hand=on_hand)
    )


def clients_of(server: MeshServer) -> Clients:
    return next(x for x in server.unit.lifecycles if isinstance(x, Clients))


@dataclass
class Stream:
    """A steady stream of CreateOrder calls from several workers."""

    orders: aio.Channel
    workers: int = 4
    timeout: float = 5.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        stub = orders_pb2_grpc.OrdersServiceStub(self.orders)

        async def worker(n: int) -> None:
            i = 0
            while not self._stop.is_set():
                i += 1
                request = orders_pb2.CreateOrderRequest(
                    request_id=f"w{n}-{i}", lines=[orders_pb2.OrderLineInput(sku="mug", quantity=1)]
                )
                try:
                    await stub.CreateOrder(request, timeout=self.timeout)
                    self.ok += 1
                except grpc.aio.AioRpcError as exc:
                    self.failures.append(f"{exc.code().name}: {exc.details()}")
                # The stream's pace (a steady load, not synchronisation): tests wait on ``ok``.
                await asyncio.sleep(0.01)

        self._tasks = [asyncio.create_task(worker(n)) for n in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def spawn_inventory(tmp: Path, index: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (tmp / f"inventory-{index}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "services.inventory"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    finally:
        log.close()
