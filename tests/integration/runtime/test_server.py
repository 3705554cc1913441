"""The shared runtime: health, reflection, shutdown, access log, error mapping."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from mesh.server import MeshServer
from shop.orders.v1 import orders_pb2_grpc
from tests.support import slow_service
from tests.support.mesh import Shop
from tests.support.waiting import until_line, until_state

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_reports_each_service(mesh: Shop) -> None:
    for running, name in [
        (mesh.catalog, "shop.catalog.v1.CatalogService"),
        (mesh.inventory, "shop.inventory.v1.InventoryService"),
        (mesh.orders, "shop.orders.v1.OrdersService"),
    ]:
        stub = health_pb2_grpc.HealthStub(running.channel)
        for service in ["", name]:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == SERVING
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_goes_not_serving_when_shutdown_starts() -> None:
    gate = slow_service.Gate()
    server = MeshServer(slow_service.unit(gate), shutdown_grace=10.0)
    await server.start()
    async with aio.insecure_channel(server.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == SERVING
        in_flight = channel.unary_unary(slow_service.METHOD, None, None)(b"held")
        await asyncio.wait_for(gate.arrived.wait(), 5)  # the server runs the call
        stopping = asyncio.create_task(server.stop())
        update = await asyncio.wait_for(watch.read(), 2)
        assert update.status == NOT_SERVING
        watch.cancel()
        assert not stopping.done() and not in_flight.done()  # draining: waits for the call
        gate.release.set()
        assert await in_flight == b"held"  # drained, not cut off
        await asyncio.wait_for(stopping, 5)  # the drain ends with the call, not the grace


async def test_reflection_lists_and_resolves_like_grpcurl(mesh: Shop) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(mesh.orders.channel)

    async def ask(**kwargs: Any) -> reflection_pb2.ServerReflectionResponse:
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(**kwargs)])
        )
        return [r async for r in responses][0]  # noqa: RUF015 - one request, one reply

    listed = await ask(list_services="")
    names = {s.name for s in listed.list_services_response.service}
    assert {
        "shop.orders.v1.OrdersService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names

    # grpcurl resolves a method by asking for the file that holds its service.
    found = await ask(file_containing_symbol="shop.orders.v1.OrdersService")
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in found.file_descriptor_response.file_descriptor_proto
    ]
    assert files, found
    orders_file = next((f for f in files if f.package == "shop.orders.v1"), None)
    assert orders_file is not None, [(f.name, f.package) for f in files]
    method = next(m for s in orders_file.service for m in s.method if m.name == "CreateOrder")
    assert method.input_type == ".shop.orders.v1.CreateOrderRequest"
    missing = await ask(file_containing_symbol="no.Such")
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_reflection_descriptor_database_resolves_methods(mesh_addresses: dict[str, str]) -> None:
    """The same resolution grpcurl performs: a full descriptor pool from reflection alone."""
    from google.protobuf.descriptor_pool import DescriptorPool

    with grpc.insecure_channel(mesh_addresses["inventory"]) as channel:
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("shop.inventory.v1.InventoryService")
        reserve = service.FindMethodByName("ReserveStock")
        line = reserve.input_type.fields_by_name["lines"].message_type
        assert line is not None
        assert line.full_name == "shop.inventory.v1.ReservationLine"
        assert not reserve.server_streaming


@pytest.fixture
def mesh_addresses(tmp_path: Path) -> Any:
    """The shop in a background event loop, for sync clients."""
    import threading

    from tests.support.mesh import shop

    ready: dict[str, str] = {}
    started = threading.Event()
    stop = threading.Event()

    def run() -> None:
        async def body() -> None:
            async with shop("sqlite", tmp_path, None) as running:
                ready.update(
                    catalog=running.catalog.address,
                    inventory=running.inventory.address,
                    orders=running.orders.address,
                )
                started.set()
                await asyncio.to_thread(stop.wait)

        asyncio.run(body())

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(20), "the shop did not start"
    yield ready
    stop.set()
    thread.join(10)


def _spawn_slow(tmp_path: Path, grace: str = "5") -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp_path / "port"
    with (tmp_path / "log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slow_service", str(port_file), grace],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ},
        )
    until_line(tmp_path / "log", '"serving"', process=process, timeout=20)
    return process, f"127.0.0.1:{port_file.read_text()}"


@pytest.mark.slow
def test_sigterm_lets_in_flight_call_finish_and_exits_zero(tmp_path: Path) -> None:
    process, address = _spawn_slow(tmp_path)
    try:
        with grpc.insecure_channel(address) as channel:
            call = channel.unary_unary(slow_service.METHOD, None, None).future(b"1500", timeout=10)
            until_line(tmp_path / "log", slow_service.ARRIVED, process=process)
            process.send_signal(signal.SIGTERM)
            assert call.result() == b"1500"
        assert process.wait(10) == 0
        log = [
            json.loads(line)
            for line in (tmp_path / "log").read_text().splitlines()
            if line.startswith("{")
        ]
        messages = [entry["message"] for entry in log]
        assert messages.index("shutting down") < messages.index("stopped")
        access = [e for e in log if e["logger"] == "mesh.access"]
        assert access and access[0]["rpc"] == slow_service.METHOD and access[0]["code"] == "OK"
        assert {"duration_ms", "request_id", "peer", "service"} <= set(access[0])
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_grace_bounds_the_drain(tmp_path: Path) -> None:
    process, address = _spawn_slow(tmp_path, grace="0.5")
    try:
        with grpc.insecure_channel(address) as channel:
            call = channel.unary_unary(slow_service.METHOD, None, None).future(b"30000", timeout=20)
            until_line(tmp_path / "log", slow_service.ARRIVED, process=process)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
            assert time.monotonic() - started < 5
            with pytest.raises(grpc.RpcError):
                call.result()
    finally:
        if process.poll() is None:
            process.kill()


async def test_request_id_is_propagated_and_logged(
    mesh: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    from shop.orders.v1 import orders_pb2 as opb

    request = opb.CreateOrderRequest(
        request_id="r", lines=[opb.OrderLineInput(sku="ghost", quantity=1)]
    )
    with pytest.raises(aio.AioRpcError):
        await mesh.orders_stub.CreateOrder(request, metadata=(("x-request-id", "trace-me-42"),))
    expected = {
        ("/shop.orders.v1.OrdersService/CreateOrder", "INVALID_ARGUMENT"),
        ("/shop.catalog.v1.CatalogService/BatchGetProducts", "NOT_FOUND"),  # the hop kept the id
    }
    lines: list[dict[str, Any]] = []

    def traced() -> set[tuple[str, str]]:
        lines.extend(json.loads(x) for x in capsys.readouterr().err.splitlines() if x[:1] == "{")
        return {(x["rpc"], x["code"]) for x in lines if x.get("request_id") == "trace-me-42"}

    # Access lines are written in batches, at most 0.5 s apart: wait for both to appear.
    await until_state(lambda: expected <= traced(), timeout=2, what=f"access lines {expected}")
    entry = next(x for x in lines if x.get("request_id") == "trace-me-42")
    assert entry["logger"] == "mesh.access"
    assert {"time", "replica", "service", "duration_ms", "peer"} <= set(entry)


async def test_hostile_request_ids_are_replaced(
    mesh: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    from shop.catalog.v1 import catalog_pb2 as cpb

    hostile = 'x"} {"forged": true'
    with pytest.raises(aio.AioRpcError):
        await mesh.catalog_stub.GetProduct(
            cpb.GetProductRequest(name="products/none"), metadata=(("x-request-id", hostile),)
        )
    lines: list[dict[str, Any]] = []

    def logged() -> bool:
        lines.extend(json.loads(x) for x in capsys.readouterr().err.splitlines() if x[:1] == "{")
        return any(x.get("rpc", "").endswith("/GetProduct") for x in lines)

    await until_state(logged, timeout=2, what="the GetProduct access line")
    entry = next(x for x in lines if x.get("rpc", "").endswith("/GetProduct"))
    assert entry["request_id"] != hostile
    assert all("forged" not in x for x in lines)


async def test_inbound_deadline_caps_outbound_calls(tmp_path: Path) -> None:
    """A 200 ms inbound deadline is what the orders->catalog hop gets, not the 5 s default."""
    from shop.orders.v1 import orders_pb2 as opb
    from tests.support.mesh import serve

    seen: list[float | None] = []

    async def get_product(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
        seen.append(context.time_remaining())
        await context.abort(grpc.StatusCode.NOT_FOUND, "recorded")
        return b""

    catalog = aio.server()
    recorder = grpc.unary_unary_rpc_method_handler(get_product)
    catalog.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "shop.catalog.v1.CatalogService",
                # Orders looks its lines up with one BatchGetProducts call.
                {"GetProduct": recorder, "BatchGetProducts": recorder},
            ),
        )
    )
    port = catalog.add_insecure_port("127.0.0.1:0")
    await catalog.start()
    env = {"MESH_STATIC_ENDPOINTS": f"catalog=127.0.0.1:{port};inventory=127.0.0.1:{port}"}
    try:
        async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=env) as orders:
            stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
            request = opb.CreateOrderRequest(
                request_id="d", lines=[opb.OrderLineInput(sku="mug", quantity=1)]
            )
            with pytest.raises(aio.AioRpcError):
                await stub.CreateOrder(request, timeout=0.2)
            with pytest.raises(aio.AioRpcError):
                await stub.CreateOrder(request)
    finally:
        await catalog.stop(0)
    assert len(seen) == 2
    capped, default = seen
    assert capped is not None and 0 < capped <= 0.2
    assert default is not None and 4 < default <= 5.1  # MESH_CALL_TIMEOUT_SECONDS
