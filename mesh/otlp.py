"""OTLP trace encoding written straight to protobuf wire format.

The SDK's encoder (``opentelemetry-exporter-otlp-proto-common``) builds a
protobuf object per span, per attribute and per value before serialising them:
about three quarters of what a recorded span cost a service. This encoder
writes the same ``ExportTraceServiceRequest`` bytes directly, and keeps the
bytes of what repeats (resources, scopes, attribute key/value pairs) once
made. ``tests/unit/test_otlp.py`` decodes its output with the official
``opentelemetry-proto`` messages and compares it with the SDK encoder's.

Field numbers are those of ``opentelemetry/proto/trace/v1/trace.proto`` and
``common/v1/common.proto``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

__all__ = ["encode_spans"]

_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")
# SpanFlags: the context says whether the parent is remote (and whether it is).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200

# Bytes of things that repeat from span to span, keyed by value. Bounded: an
# attribute whose value varies per span (a SQL statement, a status) is kept
# only until the cache is full, after which new pairs are encoded each time.
_PAIRS: dict[tuple[str, Any], bytes] = {}
_MAX_PAIRS = 4096
# A process has one resource; its bytes are kept with it (the reference keeps the id unique).
_RESOURCES: dict[int, tuple[Resource, bytes]] = {}


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _text(field: int, value: str) -> bytes:
    return _len(field, value.encode()) if value else b""


def _uint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def _any_value(value: Any) -> bytes:
    # bool before int: a bool is an int in Python.
    if isinstance(value, str):
        return _len(1, value.encode())
    if isinstance(value, bool):
        return bytes((2 << 3, 1 if value else 0))
    if isinstance(value, int):
        return _varint(3 << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return bytes((4 << 3 | 1,)) + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return _len(7, value)
    if isinstance(value, Sequence):
        items = b"".join(_len(1, _any_value(item)) for item in value)
        return _len(5, items)
    return _len(1, str(value).encode())


def _attribute(key: str, value: Any) -> bytes:
    """One ``KeyValue`` as a field of its own, from the cache when seen before."""
    cacheable = not isinstance(value, list)
    if cacheable:
        cached = _PAIRS.get((key, value))
        if cached is not None:
            return cached
    encoded = _len(1, key.encode()) + _len(2, _any_value(value))
    if cacheable and len(_PAIRS) < _MAX_PAIRS:
        _PAIRS[key, value] = encoded
    return encoded


def _attributes(field: int, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    return b"".join(_len(field, _attribute(k, v)) for k, v in attributes.items())


def _trace_state(context: SpanContext) -> bytes:
    state = context.trace_state
    if not state:
        return b""
    return _text(3, ",".join(f"{k}={v}" for k, v in state.items()))


def _flags(parent: SpanContext | None) -> int:
    return (
        _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE
    )


# Per SpanKind value: OTLP counts kinds from SPAN_KIND_UNSPECIFIED = 0.
_KINDS = {value: _uint(6, value + 1) for value in range(5)}
_SPAN_FLAGS = {
    False: b"\x85\x01" + _FIXED32.pack(_HAS_IS_REMOTE),
    True: b"\x85\x01" + _FIXED32.pack(_HAS_IS_REMOTE | _IS_REMOTE),
}
_STATUS: dict[tuple[str | None, int], bytes] = {}


def _status(description: str | None, code: int) -> bytes:
    encoded = _STATUS.get((description, code))
    if encoded is None:
        encoded = _len(15, _text(2, description or "") + _uint(3, code))
        if len(_STATUS) < _MAX_PAIRS:
            _STATUS[description, code] = encoded
    return encoded


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None  # every SDK span has one
    parent = span.parent
    status = span.status
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        _trace_state(context),
        b"\x22\x08" + parent.span_id.to_bytes(8, "big") if parent is not None else b"",
        _text(5, span.name),
        _KINDS[span.kind.value],
        b"\x39" + _FIXED64.pack(span.start_time or 0),
        b"\x41" + _FIXED64.pack(span.end_time or 0),
        _attributes(9, span.attributes),
        _uint(10, span.dropped_attributes),
        _status(status.description, status.status_code.value),
        _SPAN_FLAGS[parent is not None and parent.is_remote],
    ]
    events, links = span.events, span.links
    if events or links or span.dropped_events or span.dropped_links:
        parts.append(_events_and_links(span))
    return b"".join(parts)


def _events_and_links(span: ReadableSpan) -> bytes:
    parts = []
    for event in span.events:
        body = (
            b"\x09"
            + _FIXED64.pack(event.timestamp)
            + _text(2, event.name)
            + _attributes(3, event.attributes)
            + _uint(4, event.dropped_attributes)
        )
        parts.append(_len(11, body))
    parts.append(_uint(12, span.dropped_events))
    for link in span.links:
        body = (
            b"\x0a\x10"
            + link.context.trace_id.to_bytes(16, "big")
            + b"\x12\x08"
            + link.context.span_id.to_bytes(8, "big")
            + _attributes(4, link.attributes)
            + _uint(5, link.dropped_attributes)
            + b"\x35"
            + _FIXED32.pack(_flags(link.context))
        )
        parts.append(_len(13, body))
    parts.append(_uint(14, span.dropped_links))
    return b"".join(parts)


def _resource(resource: Resource) -> bytes:
    return _attributes(1, resource.attributes)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    body = _text(1, scope.name) + _text(2, scope.version or "")
    return _len(1, body + _attributes(3, scope.attributes))


def _group(
    spans: Iterable[ReadableSpan],
) -> list[tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]]:
    # By identity, not by value: hashing a Resource serialises its attributes to
    # JSON, and a process's spans all share its one Resource object.
    groups: dict[int, tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]] = {}
    for span in spans:
        resource = span.resource
        group = groups.get(id(resource))
        if group is None:
            group = groups[id(resource)] = (resource, {})
        group[1].setdefault(span.instrumentation_scope or None, []).append(_len(2, _span(span)))
    return _merge_equal(list(groups.values()))


def _merge_equal(
    groups: list[tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]],
) -> list[tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]]:
    """Equal resources held in different objects become one group, as the SDK's encoder makes."""
    if len(groups) < 2:
        return groups
    merged: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
    for resource, scopes in groups:
        into = merged.setdefault(resource, {})
        for scope, encoded in scopes.items():
            into.setdefault(scope, []).extend(encoded)
    return list(merged.items())


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` of ``spans`` (what OTLP/HTTP posts)."""
    out = []
    for resource, scopes in _group(spans):
        cached = _RESOURCES.get(id(resource))
        if cached is None or cached[0] is not resource:
            if len(_RESOURCES) >= 16:
                _RESOURCES.clear()
            cached = _RESOURCES[id(resource)] = (resource, _len(1, _resource(resource)))
        body = [cached[1]]
        for scope, encoded in scopes.items():
            scope_spans = _scope(scope) + b"".join(encoded)
            if scope is not None and scope.schema_url:
                scope_spans += _text(3, scope.schema_url)
            body.append(_len(2, scope_spans))
        body.append(_text(3, resource.schema_url))
        out.append(_len(1, b"".join(body)))
    return b"".join(out)
