"""Both OTLP/HTTP exporters against a real HTTP endpoint on loopback: same bytes on the wire."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from mesh.config import load_telemetry
from mesh.otlp_http import OtlpHttpExporter
from mesh.telemetry import Telemetry


@dataclass
class Sink:
    port: int
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to give first, then 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"


@contextmanager
def sink() -> Iterator[Sink]:
    state = Sink(0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = state.answers.pop(0) if state.answers else 200
            if status == 200:
                state.bodies.append(body)
                state.content_types.append(self.headers.get("content-type", ""))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _trace_through(exporter_kind: str, url: str, tmp_path: Path) -> None:
    settings = load_telemetry(
        "orders",
        {
            "MESH_TRACES_EXPORTER": exporter_kind,
            "MESH_TRACES_ENDPOINT": url,
            "MESH_REPLICA": "0",
            "MESH_DATA_DIR": str(tmp_path),
        },
    )
    telemetry = Telemetry.from_settings(settings)
    assert telemetry.tracer is not None
    for i in range(3):
        span = telemetry.tracer.start_span(
            "shop.orders.v1.OrdersService/GetOrder",
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "i": i},
        )
        span.end()
    telemetry.shutdown()  # flushes the batch


def _decoded(bodies: list[bytes]) -> list[ExportTraceServiceRequest]:
    return [ExportTraceServiceRequest.FromString(body) for body in bodies]


def test_ours_and_the_sdks_exporter_post_the_same_request(tmp_path: Path) -> None:
    requests = {}
    for kind in ("otlp-http", "otlp-http-sdk"):
        with sink() as endpoint:
            _trace_through(kind, endpoint.url, tmp_path)
        assert endpoint.content_types == ["application/x-protobuf"], kind
        requests[kind] = _decoded(endpoint.bodies)
    ours, theirs = requests["otlp-http"][0], requests["otlp-http-sdk"][0]
    spans = [s for r in ours.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert len(spans) == 3
    # Ids and times differ between the two runs; everything else is the same.
    for request in (ours, theirs):
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    span.ClearField("trace_id")
                    span.ClearField("span_id")
                    span.ClearField("start_time_unix_nano")
                    span.ClearField("end_time_unix_nano")
    assert ours == theirs


def test_a_busy_collector_is_retried_and_a_refusal_is_not(tmp_path: Path) -> None:
    with sink() as endpoint:
        endpoint.answers = [503, 429]
        _trace_through("otlp-http", endpoint.url, tmp_path)
        assert len(endpoint.bodies) == 1  # delivered on the third attempt
    with sink() as endpoint:
        endpoint.answers = [400]
        _trace_through("otlp-http", endpoint.url, tmp_path)
        assert endpoint.bodies == []  # a bad request is not sent again


def test_no_collector_drops_the_batch_with_a_warning_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    exporter = OtlpHttpExporter(f"http://127.0.0.1:{port}/v1/traces", timeout=0.5)
    telemetry = Telemetry("orders", exporters=[exporter], batch=False)
    assert telemetry.tracer is not None
    with caplog.at_level("WARNING", logger="mesh.otlp"):
        telemetry.tracer.start_span("lost").end()
    assert exporter.exported == 0
    assert any("dropped 1 spans" in r.getMessage() for r in caplog.records)
    telemetry.shutdown()


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1/v1/traces", "127.0.0.1:4318", "http://"])
def test_an_endpoint_that_is_not_an_http_url_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        OtlpHttpExporter(endpoint)
