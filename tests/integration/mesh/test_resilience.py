"""Calls between services when the registry or the endpoints misbehave."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mesh.discovery import AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, CloudMapRegistry, LocalRegistry
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.integration.discovery.support import aws_test_env, create_namespace
from tests.integration.mesh.support import clients_of, seed
from tests.support.mesh import serve
from tests.support.waiting import accepts, until_state, until_sync

# 25 polls and 5 refreshes of the cache fail in the default outage; longer by the variable.
OUTAGE_SECONDS = float(os.environ.get("MESH_TEST_OUTAGE_SECONDS", "5"))
FAST = {"MESH_DISCOVERY_POLL_SECONDS": "0.2", "MESH_DISCOVERY_REFRESH_SECONDS": "1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def order(request_id: str) -> orders_pb2.CreateOrderRequest:
    return orders_pb2.CreateOrderRequest(
        request_id=request_id, lines=[orders_pb2.OrderLineInput(sku="mug", quantity=1)]
    )


@pytest.fixture
def moto_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """moto's Cloud Map as its own process on loopback, so the test can take it away."""
    for key, value in aws_test_env().items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    until_sync(lambda: accepts(port), timeout=30, what="moto listening")
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.kill()
    process.wait()


async def test_registry_outage_keeps_calls_flowing_on_cached_endpoints(
    tmp_path: Path, moto_process: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, moto = moto_process
    namespace = create_namespace(url, ("catalog", "inventory", "orders"))
    cloudmap = {
        **FAST,
        "MESH_REGISTRY": "cloudmap",
        "MESH_CLOUDMAP_NAMESPACE": namespace,
        "MESH_CLOUDMAP_ENDPOINT": url,
        "AWS_REGION": "us-east-1",
    }
    async with (
        serve("catalog", f"sqlite+aiosqlite:///{tmp_path}/c.db") as catalog,
        serve("inventory", f"sqlite+aiosqlite:///{tmp_path}/i.db") as inventory,
    ):
        registry = CloudMapRegistry(namespace, endpoint_url=url, region="us-east-1")
        for running in (catalog, inventory):
            await registry.register(
                running.settings.service,
                f"{running.settings.service}-1",
                {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(running.server.port)},
            )
        await seed(catalog.channel, inventory.channel)
        async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=cloudmap) as orders:
            stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
            await stub.CreateOrder(order("warm"), timeout=5)
            moto.kill()
            moto.wait()
            watcher = clients_of(orders.server).channels.watcher("inventory")  # type: ignore[attr-defined]
            started, calls = time.monotonic(), 0
            while time.monotonic() - started < OUTAGE_SECONDS:
                await stub.CreateOrder(order(f"outage-{calls}"), timeout=5)
                calls += 1
                # Calls spread over the outage: its length is what is under test, not a wait.
                await asyncio.sleep(0.25)
            assert watcher.calls["errors"] > 0, "the registry was not really unreachable"
            assert watcher.endpoints, "the last good endpoint set was kept"
            assert calls > OUTAGE_SECONDS * 2
        await registry.close()


async def test_every_endpoint_gone_is_unavailable_naming_the_service(tmp_path: Path) -> None:
    dead = _free_port()
    env = {"MESH_STATIC_ENDPOINTS": f"catalog=127.0.0.1:{dead};inventory=127.0.0.1:{dead}"}
    async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=env) as orders:
        stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateOrder(order("x"), timeout=3)
        assert time.monotonic() - started < 3
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "catalog" in (caught.value.details() or "")


async def test_no_registered_endpoint_is_unavailable_naming_the_service(tmp_path: Path) -> None:
    env = {**FAST, "MESH_REGISTRY": "local", "MESH_REGISTRY_FILE": str(tmp_path / "registry.json")}
    async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=env) as orders:
        stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateOrder(order("x"), timeout=3)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no endpoints for service 'catalog'" in (caught.value.details() or "")


async def test_bad_registry_data_is_skipped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    registry_file = tmp_path / "registry.json"
    env = {**FAST, "MESH_REGISTRY": "local", "MESH_REGISTRY_FILE": str(registry_file)}
    async with (
        serve("catalog", f"sqlite+aiosqlite:///{tmp_path}/c.db") as catalog,
        serve("inventory", f"sqlite+aiosqlite:///{tmp_path}/i.db") as inventory,
    ):
        registry = LocalRegistry(registry_file)
        bad = [
            {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "99999"},
            {AWS_INSTANCE_IPV4: "not-an-ip", AWS_INSTANCE_PORT: "50000"},
            {AWS_INSTANCE_PORT: "50000"},
            {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "http"},
        ]
        for service in ("catalog", "inventory"):
            for n, attributes in enumerate(bad):
                await registry.register(service, f"{service}-bad-{n}", attributes)
        await registry.register(
            "catalog",
            "catalog-good",
            {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(catalog.server.port)},
        )
        await registry.register(
            "inventory",
            "inventory-good",
            {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(inventory.server.port)},
        )
        await seed(catalog.channel, inventory.channel)
        async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=env) as orders:
            stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
            for i in range(5):
                await stub.CreateOrder(order(f"r{i}"), timeout=5)
            endpoints = clients_of(orders.server).channels.watcher("catalog").endpoints  # type: ignore[attr-defined]
            assert [e.instance_id for e in endpoints] == ["catalog-good"]

            def skipped() -> bool:
                return any("bad-" in str(r.__dict__.get("instance_id", "")) for r in caplog.records)

            await until_state(skipped, timeout=5, what="a log line naming a skipped instance")
        await registry.close()
