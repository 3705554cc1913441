"""Trace context, X-Ray ids, telemetry settings, the trace viewer and the live view's arithmetic."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import StatusCode

from mesh.config import ConfigError, load_telemetry
from mesh.logs import JsonFormatter, schema_problems
from mesh.telemetry import (
    LOCAL_BATCH_DELAY,
    EntrySpan,
    Telemetry,
    XRayIdGenerator,
    parse_traceparent,
    traceparent,
    xray_trace_id,
)
from mesh.top import compare, parse, quantile, render
from mesh.traceview import build_tree, load_spans, main, normalise_trace_id, render_tree
from tests.support.waiting import until_sync

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def test_traceparent_round_trip() -> None:
    context = parse_traceparent(f"00-{TRACE}-{SPAN}-01")
    assert context is not None and context.is_remote and context.trace_flags.sampled
    assert traceparent(context) == f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        b"00-x",
        "",
        f"00-{TRACE}-{SPAN}",
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",
        f"ff-{TRACE}-{SPAN}-01",
        f"00-{TRACE.upper()}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-01-extra",
        f"00_{TRACE}-{SPAN}-01",
    ],
)
def test_malformed_traceparent_starts_a_new_trace(bad: str | bytes | None) -> None:
    assert parse_traceparent(bad) is None


def test_trace_ids_carry_the_time_x_ray_needs() -> None:
    ids = XRayIdGenerator()
    before = int(time.time())
    trace_id = format(ids.generate_trace_id(), "032x")
    assert before <= int(trace_id[:8], 16) <= int(time.time())
    assert len({ids.generate_trace_id() for _ in range(1000)}) == 1000
    assert xray_trace_id(trace_id) == f"1-{trace_id[:8]}-{trace_id[8:]}"
    assert normalise_trace_id(xray_trace_id(trace_id)) == trace_id


def test_telemetry_settings_default_off_and_name_the_variable() -> None:
    settings = load_telemetry("orders", {"MESH_REPLICA": "2"})
    assert (settings.traces_exporter, settings.metrics_port, settings.replica) == (
        "none",
        None,
        "2",
    )
    assert Telemetry.from_settings(settings).tracer is None  # off: no tracer at all
    grpc = load_telemetry("orders", {"MESH_TRACES_EXPORTER": "otlp-grpc"})
    assert grpc.traces_endpoint == "http://127.0.0.1:4317"
    ecs = {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0f3a9c2e1d-1234567"}
    assert load_telemetry("orders", ecs).replica == "0f3a9c2e1d"
    for name, value in (
        ("MESH_TRACES_EXPORTER", "jaeger"),
        ("MESH_TRACES_SAMPLE_RATIO", "1.5"),
        ("MESH_TRACES_SAMPLE_RATIO", "some"),
        ("MESH_TRACES_ENDPOINT", "collector:4317"),
        ("MESH_METRICS_PORT", "70000"),
        ("MESH_LOG_LEVEL", "chatty"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_telemetry("orders", {name: value})


def test_log_records_follow_the_one_schema() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("orders", "3"))
    logger = logging.getLogger("tests.schema")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("hello %s", "world", extra={"service": "spoofed", "target_service": "x"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert schema_problems(first) == schema_problems(second) == []
    assert (first["service"], first["replica"], first["message"]) == ("orders", "3", "hello world")
    assert first["extra_service"] == "spoofed"  # an extra never overwrites the schema's keys
    assert "ValueError: boom" in second["error"]


def test_the_trace_viewer_reads_the_sdk_exporter_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two processes' real file exporters, the way scripts/run configures them.
    from mesh.config import TelemetrySettings

    directory = tmp_path / "traces"
    front = Telemetry.from_settings(
        TelemetrySettings(service="gateway", traces_exporter="file", traces_dir=directory)
    )
    back = Telemetry.from_settings(
        TelemetrySettings(service="orders", traces_exporter="file", traces_dir=directory)
    )
    assert front.tracer is not None and back.tracer is not None
    root = front.tracer.start_span("POST /v1/orders", kind=trace.SpanKind.SERVER)
    remote = traceparent(root.get_span_context())
    child = back.start_server_span("shop.orders.v1.OrdersService/CreateOrder", remote, {})
    assert child is not None
    child.end()
    root.end()
    front.shutdown()
    back.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    spans = list(load_spans(directory))
    assert {p.name for p in directory.iterdir()} == {"gateway-0.jsonl", "orders-0.jsonl"}
    lines = render_tree(build_tree(spans))
    assert "gateway-0 server POST /v1/orders" in lines[0]
    assert "└─ orders-0 server shop.orders.v1.OrdersService/CreateOrder" in lines[1]
    assert main([xray_trace_id(trace_id), "--traces-dir", str(directory)]) == 0
    assert "2 spans" in capsys.readouterr().out
    assert main(["--list", "--traces-dir", str(directory)]) == 0
    assert trace_id in capsys.readouterr().out
    assert main(["f" * 32, "--traces-dir", str(directory)]) == 1


def test_the_local_file_exporter_writes_a_span_within_its_short_delay(tmp_path: Path) -> None:
    # scripts/trace right after a call: the span is on disk well before the SDK's 5 s.
    from mesh.config import TelemetrySettings

    directory = tmp_path / "traces"
    telemetry = Telemetry.from_settings(
        TelemetrySettings(service="orders", traces_exporter="file", traces_dir=directory)
    )
    assert telemetry.tracer is not None
    try:
        span = telemetry.tracer.start_span("GET /v1/orders", kind=trace.SpanKind.SERVER)
        span.end()
        ended = time.monotonic()
        until_sync(lambda: list(load_spans(directory)), timeout=4, what="the span on disk")
        assert time.monotonic() - ended < LOCAL_BATCH_DELAY + 1.5
    finally:
        telemetry.shutdown()


PROMETHEUS = """\
# TYPE mesh_serving gauge
mesh_serving 1.0
# TYPE mesh_rpc_server_in_flight gauge
mesh_rpc_server_in_flight{rpc="/a.B/C"} 2.0
# TYPE mesh_rpc_server_duration_seconds histogram
mesh_rpc_server_duration_seconds_bucket{code="OK",le="0.001",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_bucket{code="OK",le="0.01",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_bucket{code="OK",le="+Inf",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_count{code="OK",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_sum{code="OK",rpc="/a.B/C"} 0.5
mesh_rpc_server_duration_seconds_bucket{code="INTERNAL",le="0.001",rpc="/a.B/C"} 0
mesh_rpc_server_duration_seconds_bucket{code="INTERNAL",le="0.01",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_bucket{code="INTERNAL",le="+Inf",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_count{code="INTERNAL",rpc="/a.B/C"} %d
mesh_rpc_server_duration_seconds_sum{code="INTERNAL",rpc="/a.B/C"} 0.1
"""


def test_the_live_view_computes_rates_quantiles_and_errors() -> None:
    before = parse(PROMETHEUS % (10, 10, 10, 10, 0, 0, 0), at=100.0)
    after = parse(PROMETHEUS % (150, 190, 190, 190, 10, 10, 10), at=102.0)
    row = compare("catalog-0", after, before)
    assert row.health == "SERVING" and row.in_flight == 2
    assert row.rps == pytest.approx(95.0)  # 190 calls in 2 s
    assert row.error_rate == pytest.approx(10 / 190)
    assert row.p50_ms is not None and row.p50_ms < 1.0
    assert row.p99_ms is not None and 1.0 < row.p99_ms <= 10.0
    assert quantile({}, 0.5) is None
    down = compare("x", parse("", 1.0).__class__(at=1.0, up=False), None)
    assert down.health == "DOWN"
    assert "catalog-0" in render([row, down], "t")


class _Keep(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def test_an_unrecorded_callers_traceparent_is_sent_on_as_it_came() -> None:
    telemetry = Telemetry("orders", exporters=[_Keep()], sample_ratio=1.0)
    unrecorded = f"00-{TRACE}-{SPAN}-00"
    assert telemetry.unrecorded(unrecorded) == unrecorded
    assert telemetry.unrecorded(f"00-{TRACE}-{SPAN}-02") is not None  # other flags kept
    for other in (
        f"00-{TRACE}-{SPAN}-01",  # recorded: this hop makes its span
        f"00-{TRACE.upper()}-{SPAN}-00",
        f"00-{'0' * 32}-{SPAN}-00",
        f"00-{TRACE}-{'0' * 16}-00",
        f"01-{TRACE}-{SPAN}-00",
        f"00-{TRACE}-{SPAN}-00-extra",
        f"00-{TRACE}-{SPAN}-00\n",
        f"00-{TRACE}-{SPAN}-0g",
        "",
        None,
        b"00-" + TRACE.encode() + b"-" + SPAN.encode() + b"-00",
    ):
        assert telemetry.unrecorded(other) is None, other


ATTRIBUTES = {"http.request.method": "GET", "http.route": "/v1/{name=orders/*}"}


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_the_front_door_decides_before_the_sdk(ratio: float) -> None:
    telemetry = Telemetry("gateway", exporters=[_Keep()], sample_ratio=ratio)
    for parent in (None, f"00-{TRACE}-{SPAN}-01", "garbage"):
        entry = telemetry.entry(parent, "GET /v1/products", ATTRIBUTES)
        if ratio == 1.0:
            assert isinstance(entry, EntrySpan)  # recorded: a span, no SDK sampler asked
            continue
        assert isinstance(entry, str) and parse_traceparent(entry) is not None
        assert entry.endswith("-00") and entry[36:52] != SPAN
        if parent is not None and parent != "garbage":
            assert entry[3:35] == TRACE  # the client's trace goes on, not recorded
    # A client asking not to be recorded is not, whatever the ratio.
    forward = telemetry.entry(f"00-{TRACE}-{SPAN}-00", "GET /v1/products", ATTRIBUTES)
    assert isinstance(forward, str) and forward[3:35] == TRACE and forward.endswith("-00")


def test_the_front_door_records_by_the_trace_ids_ratio() -> None:
    # The same ratio test the SDK's sampler makes (low 64 bits under its bound),
    # so a trace id is recorded or not wherever it is decided.
    telemetry = Telemetry("gateway", exporters=[_Keep()], sample_ratio=0.5)
    bound = TraceIdRatioBased(0.5).bound
    recorded = 0
    for _ in range(200):
        entry = telemetry.entry(None, "GET /v1/products", ATTRIBUTES)
        if isinstance(entry, EntrySpan):
            assert entry.context.trace_id & (2**64 - 1) < bound
            recorded += 1
        else:
            assert int(entry[3:35], 16) & (2**64 - 1) >= bound
    assert 0 < recorded < 200


class _Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.mark.parametrize("caller", [None, f"00-{TRACE}-{SPAN}-01"])
@pytest.mark.parametrize(("status", "error"), [(200, False), (404, False), (503, True)])
def test_the_front_doors_span_is_what_the_sdk_would_export(
    caller: str | None, status: int, error: bool
) -> None:
    kept = _Kept()
    front = Telemetry("gateway", exporters=[kept], sample_ratio=1.0, batch=False)
    attributes = dict(ATTRIBUTES)
    before = time.time_ns()
    span = front.entry(caller, "GET /v1/{name=orders/*}", attributes)
    assert isinstance(span, EntrySpan)
    span.end(status, "UNAVAILABLE" if error else "OK")
    front.shutdown()
    [done] = kept.spans
    assert done.context is not None and done.context.trace_flags.sampled
    assert done.context == span.context and not done.context.is_remote
    if caller is None:
        assert done.parent is None
        assert before // 10**9 - 1 <= done.context.trace_id >> 96 <= time.time()  # X-Ray id
    else:
        assert done.parent == parse_traceparent(caller)
        assert format(done.context.trace_id, "032x") == TRACE
    assert done.kind is trace.SpanKind.SERVER and done.name == "GET /v1/{name=orders/*}"
    assert dict(done.attributes or {}) == {**attributes, "http.response.status_code": status}
    assert attributes == ATTRIBUTES  # shared per route: never changed
    assert done.status.status_code is (StatusCode.ERROR if error else StatusCode.UNSET)
    assert done.resource.attributes["service.name"] == "gateway"
    assert done.instrumentation_scope is not None and done.instrumentation_scope.name == "mesh"
    assert done.start_time is not None and done.end_time is not None
    assert before <= done.start_time <= done.end_time
    # The SDK's console formatter (the file exporter, scripts/trace) reads it too.
    assert (
        json.loads(done.to_json(indent=None))["attributes"]["http.response.status_code"] == status
    )
