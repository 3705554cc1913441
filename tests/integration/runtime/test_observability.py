"""One REST call through the real gateway and the three services: one trace, one schema, RED metrics.

Everything is real and on loopback: the services with their databases, the
gateway with JWT verification against a local issuer, the Prometheus endpoints
over HTTP. Spans go to the OpenTelemetry SDK's in-memory exporter (one per
test, shared by the four processes' tracers as the ADOT collector would be).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from gateway import Gateway, LocalChannelProvider, Settings, create_app
from gateway.auth import JwtSettings
from mesh.db import Database
from mesh.issuer import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer, serve_jwks
from mesh.logs import schema_problems
from mesh.metrics import Metrics, MetricsServer
from mesh.server import MeshServer
from mesh.service import build_server, migrations_dir, wire_discovery
from mesh.telemetry import Telemetry
from tests.support.mesh import APPS, settings_for

SECRET = "hunter2-Pa55w0rd-never-in-a-span"


@dataclass
class Observed:
    gateway: Gateway
    servers: dict[str, MeshServer]
    metrics: dict[str, str]  # process -> /metrics URL
    spans: InMemorySpanExporter
    admin: str
    alice: str

    def flush_logs(self) -> None:
        for server in self.servers.values():
            assert server.access_log is not None
            server.access_log.flush()
        assert self.gateway.access_log is not None
        self.gateway.access_log.flush()


@asynccontextmanager
async def observed_mesh(tmp_path: Path, sample_ratio: float = 1.0) -> AsyncIterator[Observed]:
    exporter = InMemorySpanExporter()
    issuer = LocalIssuer.load_or_create(tmp_path / "issuer")
    async with AsyncExitStack() as stack:
        jwks = await serve_jwks(issuer)
        stack.push_async_callback(jwks.close)
        servers: dict[str, MeshServer] = {}
        urls: dict[str, str] = {}

        async def start(service: str, env: dict[str, str]) -> MeshServer:
            settings = settings_for(
                service,
                f"sqlite+aiosqlite:///{tmp_path / (service + '.db')}",
                MESH_REGISTER="false",
                **env,
            )
            telemetry = Telemetry(service, exporters=[exporter], batch=False)
            metrics = Metrics(service)
            endpoint = MetricsServer(metrics, "127.0.0.1", 0)
            app = APPS[service]
            database = Database(settings.database_url, service, migrations_dir(app.__file__))
            unit = wire_discovery(
                settings, lambda clients: app.build_unit(settings, database, clients)
            )
            unit.lifecycles = [endpoint, *unit.lifecycles]
            server = build_server(settings, unit, telemetry=telemetry, metrics=metrics)
            await server.start()
            stack.push_async_callback(server.stop, 1.0)
            urls[service] = f"http://127.0.0.1:{endpoint.port}/metrics"
            servers[service] = server
            return server

        catalog = await start("catalog", {})
        inventory = await start("inventory", {})
        static = f"catalog={catalog.address};inventory={inventory.address}"
        orders = await start("orders", {"MESH_STATIC_ENDPOINTS": static})
        provider = LocalChannelProvider({name: server.port for name, server in servers.items()})
        stack.push_async_callback(provider.close)
        metrics = Metrics("gateway")
        endpoint = MetricsServer(metrics, "127.0.0.1", 0)
        await endpoint.start()
        stack.push_async_callback(endpoint.stop)
        urls["gateway"] = f"http://127.0.0.1:{endpoint.port}/metrics"
        settings = Settings(
            rate_limit_rps=0.0,
            jwt=JwtSettings(issuer=LOCAL_ISSUER, jwks_url=jwks.url, audience=LOCAL_AUDIENCE),
        )
        gateway = create_app(
            provider,
            settings=settings,
            telemetry=Telemetry(
                "gateway", exporters=[exporter], batch=False, sample_ratio=sample_ratio
            ),
            metrics=metrics,
        )
        await gateway.guard.start()
        stack.push_async_callback(gateway.guard.stop)
        assert orders.port
        yield Observed(
            gateway,
            servers,
            urls,
            exporter,
            issuer.mint("admin", ["catalog.write", "inventory.write", "orders.admin"]),
            issuer.mint("alice", ["orders.read", "orders.write"]),
        )


def _client(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway, client=("203.0.113.9", 4711)),
        base_url="http://gateway",
        timeout=10,
    )


async def _stock_a_mug(client: httpx.AsyncClient, admin: str) -> None:
    auth = {"Authorization": f"Bearer {admin}"}
    product = {
        "sku": "mug",
        "displayName": "Mug",
        "description": f"password={SECRET}",
        "price": {"currencyCode": "EUR", "amountMinor": "900"},
        "active": True,
    }
    assert (await client.post("/v1/products", json=product, headers=auth)).status_code == 200
    stock = await client.put("/v1/stocks/mug", json={"onHand": "5"}, headers=auth)
    assert stock.status_code == 200, stock.text


def _access_lines(err: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"].endswith(".access")]


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_one_rest_call_is_one_trace_through_every_hop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with observed_mesh(tmp_path) as mesh, _client(mesh.gateway) as client:
        await _stock_a_mug(client, mesh.admin)
        mesh.spans.clear()
        capsys.readouterr()
        created = await client.post(
            "/v1/orders",
            json={"requestId": "trace-1", "lines": [{"sku": "mug", "quantity": "2"}]},
            headers={"Authorization": f"Bearer {mesh.alice}"},
        )
        assert created.status_code == 200, created.text
        trace_id = created.headers["x-trace-id"]
        mesh.flush_logs()
        err = capsys.readouterr().err

    # The access line of every process the call touched carries the one trace id.
    lines = [line for line in _access_lines(err) if line.get("trace_id") == trace_id]
    assert {line["service"] for line in lines} == {"gateway", "orders", "catalog", "inventory"}
    assert {line["request_id"] for line in lines} == {created.headers["x-request-id"]}
    assert all(schema_problems(line) == [] for line in lines)

    spans: tuple[ReadableSpan, ...] = mesh.spans.get_finished_spans()
    assert spans and {_hex(s.context.trace_id, 32) for s in spans if s.context} == {trace_id}
    by_id = {s.context.span_id: s for s in spans if s.context}
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1
    root = roots[0]
    assert root.kind is SpanKind.SERVER and root.name == "POST /v1/orders"
    assert root.resource.attributes["service.name"] == "gateway"
    for span in spans:  # one tree: every parent is in the trace
        if span.parent is not None:
            assert span.parent.span_id in by_id, span.name

    def service(span: ReadableSpan) -> str:
        return str(span.resource.attributes["service.name"])

    def parent(span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None
        return by_id[span.parent.span_id]

    servers = {(service(s), s.name): s for s in spans if s.kind is SpanKind.SERVER}
    create = servers["orders", "shop.orders.v1.OrdersService/CreateOrder"]
    assert parent(create) is root
    for callee, rpc in (
        ("catalog", "shop.catalog.v1.CatalogService/BatchGetProducts"),
        ("inventory", "shop.inventory.v1.InventoryService/ReserveStock"),
    ):
        served = servers[callee, rpc]
        call = parent(served)  # orders' CLIENT span, under its own SERVER span
        assert (service(call), call.kind, call.name) == ("orders", SpanKind.CLIENT, rpc)
        assert parent(call) is create
    # The database work of each service, under the call that did it.
    for name in ("orders", "catalog", "inventory"):
        db = [s for s in spans if service(s) == name and "db.system.name" in (s.attributes or {})]
        assert db, f"no database span from {name}"
        assert all(parent(s).kind is SpanKind.SERVER for s in db if parent(s) is not None)
    _no_secret_in_spans(spans, [mesh.alice, mesh.admin, SECRET])


async def test_the_callers_traceparent_is_the_parent_and_its_id_comes_back(
    tmp_path: Path,
) -> None:
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    async with observed_mesh(tmp_path) as mesh, _client(mesh.gateway) as client:
        response = await client.get(
            "/v1/products", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == trace_id
    spans = mesh.spans.get_finished_spans()
    gateway = next(s for s in spans if s.resource.attributes["service.name"] == "gateway")
    assert gateway.parent is not None and _hex(gateway.parent.span_id, 16) == parent_id
    catalog = next(s for s in spans if s.name.endswith("CatalogService/ListProducts"))
    assert catalog.parent is not None and gateway.context is not None
    assert catalog.parent.span_id == gateway.context.span_id


async def test_unsampled_traces_export_nothing_but_logs_keep_the_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with observed_mesh(tmp_path, sample_ratio=0.0) as mesh, _client(mesh.gateway) as client:
        capsys.readouterr()
        response = await client.get("/v1/products")
        mesh.flush_logs()
        err = capsys.readouterr().err
    assert response.status_code == 200
    assert mesh.spans.get_finished_spans() == ()
    trace_id = response.headers["x-trace-id"]
    services = {line["service"] for line in _access_lines(err) if line.get("trace_id") == trace_id}
    assert services == {"gateway", "catalog"}


async def test_an_unrecorded_order_keeps_one_trace_id_through_every_hop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with observed_mesh(tmp_path, sample_ratio=0.0) as mesh, _client(mesh.gateway) as client:
        await _stock_a_mug(client, mesh.admin)
        capsys.readouterr()
        created = await client.post(
            "/v1/orders",
            json={"requestId": "unrecorded-1", "lines": [{"sku": "mug", "quantity": "1"}]},
            headers={"Authorization": f"Bearer {mesh.alice}"},
        )
        mesh.flush_logs()
        err = capsys.readouterr().err
    assert created.status_code == 200, created.text
    assert mesh.spans.get_finished_spans() == ()
    trace_id = created.headers["x-trace-id"]
    # No span anywhere, yet orders sent the gateway's traceparent on to both callees.
    lines = [line for line in _access_lines(err) if line.get("trace_id") == trace_id]
    assert {line["service"] for line in lines} == {"gateway", "orders", "catalog", "inventory"}


async def test_half_sampled_requests_are_recorded_whole_or_not_at_all(tmp_path: Path) -> None:
    async with observed_mesh(tmp_path, sample_ratio=0.5) as mesh, _client(mesh.gateway) as client:
        ids = []
        for _ in range(40):
            response = await client.get("/v1/products")
            assert response.status_code == 200
            ids.append(response.headers["x-trace-id"])
        spans = mesh.spans.get_finished_spans()
    by_trace: dict[str, set[str]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(_hex(span.context.trace_id, 32), set()).add(
            str(span.resource.attributes["service.name"])
        )
    recorded = [trace_id for trace_id in ids if trace_id in by_trace]
    # The id the client was given is the recorded trace's, and a recorded trace has
    # both hops: the front door's decision and the SDK's sampler agree.
    assert set(by_trace) <= set(ids)
    assert all(by_trace[trace_id] == {"gateway", "catalog"} for trace_id in recorded)
    assert 0 < len(recorded) < len(ids), len(recorded)  # 2^-39 odds of a false failure


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_red_metrics_count_failures_under_their_code_and_histograms_move(
    tmp_path: Path,
) -> None:
    get_product = "/shop.catalog.v1.CatalogService/GetProduct"
    route = "/v1/{name=products/*}"
    async with observed_mesh(tmp_path) as mesh, _client(mesh.gateway) as client:
        before = {name: _scrape(url) for name, url in mesh.metrics.items()}
        missing = await client.get("/v1/products/nothing-here")
        assert missing.status_code == 404
        await _stock_a_mug(client, mesh.admin)
        found = await client.get("/v1/products/mug")
        assert found.status_code == 200
        after = {name: _scrape(url) for name, url in mesh.metrics.items()}
        unreachable = await client.get("/v1/orders/x", headers={"Authorization": "Bearer x.y.z"})
        assert unreachable.status_code == 401

    count = "mesh_rpc_server_duration_seconds_count"
    assert _value(after["catalog"], count, rpc=get_product, code="NOT_FOUND") == 1
    assert _value(after["catalog"], count, rpc=get_product, code="OK") == 1
    http = "mesh_http_server_duration_seconds_count"
    assert _value(after["gateway"], http, route=route, method="GET", status="404") == 1
    assert _value(after["gateway"], http, route=route, method="GET", status="200") == 1
    # Histograms move: the +Inf bucket and the sum grew between the two scrapes.
    bucket = "mesh_rpc_server_duration_seconds_bucket"
    grown = _value(after["catalog"], bucket, rpc=get_product, le="+Inf") - _value(
        before["catalog"], bucket, rpc=get_product, le="+Inf"
    )
    assert grown == 2
    assert _value(after["catalog"], "mesh_rpc_server_duration_seconds_sum", rpc=get_product) > 0
    # orders' outbound calls, the pools and the serving flag.
    assert _value(after["catalog"], "mesh_serving") == 1
    assert _value(after["catalog"], "mesh_db_pool_connections", state="size") >= 0
    assert _value(after["orders"], "mesh_discovery_endpoints", target="catalog") == 1
    assert _value(after["gateway"], "mesh_http_server_in_flight") == 0
    # No label holds a token or a request's own data.
    for samples in after.values():
        for _name, labels in samples:
            for _key, value in labels:
                assert mesh.admin.rsplit(".", 1)[-1] not in value
                assert "nothing-here" not in value and "Bearer" not in value


def _no_secret_in_spans(spans: tuple[ReadableSpan, ...], secrets: list[str]) -> None:
    text = "\n".join(span.to_json() for span in spans)
    assert "authorization" not in text.lower()
    for secret in secrets:
        for needle in {secret, secret.rsplit(".", 1)[-1]}:
            assert needle not in text


async def test_the_watch_stream_continues_the_callers_trace(tmp_path: Path) -> None:
    from grpc import aio

    from shop.orders.v1 import orders_pb2, orders_pb2_grpc

    trace_id, parent_id = "5f0e8453cb44bf261b6118ea31910d74", "00f067aa0ba902b7"
    async with observed_mesh(tmp_path) as mesh, _client(mesh.gateway) as client:
        await _stock_a_mug(client, mesh.admin)
        created = await client.post(
            "/v1/orders",
            json={"requestId": "watch-1", "lines": [{"sku": "mug", "quantity": "1"}]},
            headers={"Authorization": f"Bearer {mesh.alice}"},
        )
        assert created.status_code == 200, created.text
        async with aio.insecure_channel(mesh.servers["orders"].address) as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            call = stub.WatchOrder(
                orders_pb2.WatchOrderRequest(name=created.json()["name"]),
                metadata=(("traceparent", f"00-{trace_id}-{parent_id}-01"),),
            )
            first: Any = await call.read()  # a WatchOrderResponse (the sync stub's types)
            assert first.order.name == created.json()["name"]
            call.cancel()

            def watched() -> list[ReadableSpan]:
                return [
                    s
                    for s in mesh.spans.get_finished_spans()
                    if s.name.endswith("OrdersService/WatchOrder")
                ]

            for _ in range(500):  # the server ends its span when it sees the cancellation
                if watched():
                    break
                await asyncio.sleep(0.01)
    (span,) = watched()
    assert span.context is not None and _hex(span.context.trace_id, 32) == trace_id
    assert span.parent is not None and _hex(span.parent.span_id, 16) == parent_id
    assert span.kind is SpanKind.SERVER
