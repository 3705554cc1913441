"""The whole local mesh through the README's own command (scripts/run)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from mesh.topology import load_topology
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money

ROOT = Path(__file__).resolve().parents[2]


def _free_offset() -> int:
    ports = [s.port for s in load_topology().services.values()]
    for _ in range(50):
        offset = random.randrange(1000, 9000)
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port range")


@pytest.mark.slow
def test_scripts_run_serves_the_shop_and_stops_cleanly(tmp_path: Path) -> None:
    offset = _free_offset()
    topology = load_topology()
    out = tmp_path / "run.out"
    with out.open("w") as sink:
        process = subprocess.Popen(
            [
                str(ROOT / "scripts" / "run"),
                "--data-dir",
                str(tmp_path / "data"),
                "--port-offset",
                str(offset),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ},
        )
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in out.read_text():
            assert process.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        text = out.read_text()
        for name in ("catalog", "inventory", "orders"):
            assert f"ready   {name}-0" in text
        port = {name: spec.port + offset for name, spec in topology.services.items()}
        assert f"grpcurl -plaintext 127.0.0.1:{port['catalog']} list" in text

        with (
            grpc.insecure_channel(f"127.0.0.1:{port['catalog']}") as cat,
            grpc.insecure_channel(f"127.0.0.1:{port['inventory']}") as inv,
            grpc.insecure_channel(f"127.0.0.1:{port['orders']}") as ords,
        ):
            catalog_pb2_grpc.CatalogServiceStub(cat).CreateProduct(
                catalog_pb2.CreateProductRequest(
                    product=catalog_pb2.Product(
                        sku="mug",
                        display_name="Mug",
                        price=Money(currency_code="EUR", amount_minor=900),
                        active=True,
                    )
                ),
                timeout=10,
            )
            inventory = inventory_pb2_grpc.InventoryServiceStub(inv)
            inventory.SetStock(
                inventory_pb2.SetStockRequest(name="stocks/mug", on_hand=3), timeout=10
            )
            order = (
                orders_pb2_grpc.OrdersServiceStub(ords)
                .CreateOrder(
                    orders_pb2.CreateOrderRequest(
                        request_id="e2e-1", lines=[orders_pb2.OrderLineInput(sku="mug", quantity=2)]
                    ),
                    timeout=10,
                )
                .order
            )
            assert order.total.amount_minor == 1800
            stock = inventory.GetStock(
                inventory_pb2.GetStockRequest(name="stocks/mug"), timeout=10
            ).stock
            assert stock.available == 1

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out.read_text()
        text = out.read_text()
        for name in ("orders", "inventory", "catalog"):
            assert f"stopped {name}-0 (exit 0)" in text
        assert (tmp_path / "data" / "orders.db").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
