"""mesh.otlp writes what the SDK's OTLP encoder writes, for every kind of span content."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from mesh.otlp import encode_spans


def _spans(resource: Resource | None = None, scope: str = "mesh") -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource or Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(
        scope, "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0"
    )
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "value"), ("x", "y")]),
    )
    server = tracer.start_span(
        "shop.orders.v1.OrdersService/CreateOrder",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.grpc.status_code": 0},
    )
    child = tracer.start_span(
        "INSERT orders",
        context=set_span_in_context(server),
        kind=SpanKind.CLIENT,
        attributes={
            "db.system.name": "postgresql",
            "db.query.text": "INSERT INTO orders (id) VALUES ($1) — ünïcode",
            "negative": -42,
            "big": 2**62,
            "ratio": 0.25,
            "flag": True,
            "off": False,
            "strings": ("a", "b"),
            "ints": [1, -2, 3],
            "floats": (1.5, -0.0),
            "bools": [True, False],
            "empty": "",
        },
        links=[Link(remote, {"link.kind": "follows"})],
    )
    child.add_event("retry", {"attempt": 2, "code": "UNAVAILABLE"})
    child.add_event("bare")
    child.set_status(StatusCode.ERROR, "UNAVAILABLE")
    child.end()
    internal = tracer.start_span("settle", kind=SpanKind.INTERNAL)
    internal.set_status(StatusCode.OK)
    internal.end()
    for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
        tracer.start_span(kind.name.lower(), kind=kind).end()
    server.end()
    return memory.get_finished_spans()


def _same(spans: Sequence[ReadableSpan]) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    theirs = sdk_encode(spans)
    assert ours == theirs, f"ours:\n{ours}\ntheirs:\n{theirs}"


def test_every_kind_of_span_content_encodes_as_the_sdk_does() -> None:
    _same(_spans())
    _same(_spans())  # again, now from the caches


def test_spans_of_several_resources_and_scopes_are_grouped_as_the_sdk_groups_them() -> None:
    mixed = [
        *_spans(Resource.create({"service.name": "catalog", "service.instance.id": "1"})),
        *_spans(Resource.create({"service.name": "inventory"}), scope="other"),
    ]
    _same(mixed)


def test_no_spans_is_an_empty_request() -> None:
    assert encode_spans([]) == b""
    assert ExportTraceServiceRequest.FromString(b"") == sdk_encode([])


@pytest.mark.parametrize("value", ["x" * 300, 2**63 - 1, -(2**63), 1e308])
def test_values_at_the_edges_round_trip(value: object) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("mesh").start_span("edge", attributes={"v": value}).end()  # type: ignore[dict-item]
    _same(memory.get_finished_spans())
