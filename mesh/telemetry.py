"""Traces: one tracer set-up for every process, on the OpenTelemetry API and SDK.

:class:`Telemetry` is made once per process by its composition root
(:func:`mesh.service.main`, :func:`gateway.app.create_app`) from
:class:`~mesh.config.TelemetrySettings` and handed to what makes spans: the
server's call wrapper, the outbound :class:`~mesh.clients.Clients`, the
database and the gateway. With ``MESH_TRACES_EXPORTER=none`` there is no
tracer at all (``tracer`` is None) and the hot paths skip every span call.

Context travels as W3C ``traceparent`` metadata on every gRPC call (gRPC's
own retries resend the same metadata, so every attempt carries it). Trace ids
come from :class:`XRayIdGenerator`: the first 8 hex digits are the start time
in seconds, which is what AWS X-Ray needs to take the id as it is.

Sampling is decided once per trace: at the gateway by ``MESH_TRACES_SAMPLE_RATIO``
(also for a client's own ``traceparent``, so a client cannot force every request
to be recorded; the ratio sampler hashes the trace id, so it agrees with itself),
and every hop after it follows the caller's flag.

A request that is not recorded makes no SDK span anywhere: the front door
decides before the SDK is asked (:meth:`Telemetry.entry`), and a hop
whose caller says "not recorded" sends the caller's ``traceparent`` on as it
came (:meth:`Telemetry.unrecorded`). The SDK's path for a span that will not be
recorded (sampler, ids, a NonRecordingSpan, context attach) cost more than the
rest of the tracing at a 10 % ratio; the trace id still reaches every access line.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, Tracer
from opentelemetry.trace.status import Status, StatusCode

from mesh.config import TelemetrySettings

__all__ = [
    "TRACEPARENT",
    "EntrySpan",
    "Telemetry",
    "XRayIdGenerator",
    "ids_of",
    "parse_traceparent",
    "traceparent",
    "xray_trace_id",
]

log = logging.getLogger("mesh.telemetry")

# Seconds between the local `file` exporter's writes (the SDK waits 5 s by default).
LOCAL_BATCH_DELAY = 0.5

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_HEX = frozenset("0123456789abcdef")


# A version-00 traceparent whose sampled flag (bit 0 of the flags) is clear, with
# nonzero ids: safe to send on as it came.
_UNRECORDED = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f][02468ace]")
_LOW_64 = (1 << 64) - 1  # the bits TraceIdRatioBased compares with its bound


class XRayIdGenerator(IdGenerator):
    """Trace ids X-Ray takes as they are: 32 bits of epoch seconds, then 96 random bits."""

    def __init__(self) -> None:
        self._random = random.Random()  # ids must be unique, not secret

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.new_trace_id()

    def new_trace_id(self) -> int:
        return (int(time.time()) << 96) | (self._random.getrandbits(96) or 1)


def xray_trace_id(trace_id: str) -> str:
    """The X-Ray form of a 32-hex-digit trace id: ``1-<8 hex>-<24 hex>``."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def traceparent(context: SpanContext) -> str:
    """The W3C ``traceparent`` value of a span context."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def ids_of(value: str) -> tuple[str, str]:
    """The trace id and span id (hex) of a traceparent already checked (version 00 layout)."""
    return value[3:35], value[36:52]


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """A remote span context from a W3C ``traceparent`` (version 00 layout), or None."""
    if not isinstance(value, str) or len(value) < 55:
        return None
    version, trace_id, span_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if (
        value[2] != "-"
        or value[35] != "-"
        or value[52] != "-"
        or version == "ff"
        or (version == "00" and len(value) != 55)
        or not set(version + trace_id + span_id + flags) <= _HEX
    ):
        return None
    trace_int, span_int = int(trace_id, 16), int(span_id, 16)
    if trace_int == 0 or span_int == 0:
        return None
    return SpanContext(trace_int, span_int, is_remote=True, trace_flags=TraceFlags(int(flags, 16)))


def parent_context(value: str | bytes | None) -> otel_context.Context | None:
    """An OpenTelemetry context whose current span is the remote parent (None: a new trace)."""
    remote = parse_traceparent(value)
    if remote is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(remote))


class _JsonLines:
    """The SDK's console exporter's formatter, one span per line (what scripts/trace reads)."""

    @staticmethod
    def format(span: ReadableSpan) -> str:
        line: str = span.to_json(indent=None)
        return line + "\n"


class Telemetry:
    """The tracer of one process (None when tracing is off) and how to flush it at exit.

    >>> telemetry = Telemetry.from_settings(settings.telemetry)
    >>> telemetry.tracer  # None with MESH_TRACES_EXPORTER=none
    """

    def __init__(
        self,
        service: str,
        *,
        replica: str = "0",
        exporters: Sequence[SpanExporter] = (),
        sample_ratio: float = 1.0,
        batch: bool = True,
        batch_delay: float | None = None,
    ) -> None:
        self.service = service
        self.replica = replica
        self.sample_ratio = sample_ratio
        self._provider: TracerProvider | None = None
        self._files: list[IO[str]] = []
        self.tracer: Tracer | None = None
        self._ids = XRayIdGenerator()
        self._processors: list[SpanProcessor] = []
        if not exporters:
            return
        ratio = TraceIdRatioBased(sample_ratio)
        self._bound = ratio.bound
        # Hops follow their caller's decision; the front door makes it (entry()).
        sampler: Sampler = ParentBased(ratio)
        self._provider = TracerProvider(
            sampler=sampler,
            resource=Resource.create(
                {
                    "service.name": service,
                    "service.instance.id": replica,
                    "service.namespace": "shop",
                }
            ),
            id_generator=self._ids,
        )
        for exporter in exporters:
            processor: SpanProcessor
            if not batch:
                processor = SimpleSpanProcessor(exporter)
            elif batch_delay is None:
                processor = BatchSpanProcessor(exporter)  # the SDK's delay (OTEL_BSP_*)
            else:
                processor = BatchSpanProcessor(
                    exporter, schedule_delay_millis=int(batch_delay * 1000)
                )
            self._provider.add_span_processor(processor)
            self._processors.append(processor)
        self.tracer = self._provider.get_tracer("mesh")
        self._resource = self._provider.resource
        self._scope = InstrumentationScope("mesh")

    @classmethod
    def off(cls, service: str = "mesh") -> Telemetry:
        return cls(service)

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> Telemetry:
        """The exporter the settings name."""
        kind = settings.traces_exporter
        exporters: list[SpanExporter] = []
        files: list[IO[str]] = []
        if kind == "otlp-grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            # The collector is a sidecar on the task's loopback: plaintext.
            exporters.append(
                GrpcExporter(
                    endpoint=settings.traces_endpoint,
                    insecure=settings.traces_endpoint.startswith("http://"),
                )
            )
        elif kind == "otlp-http":
            from mesh.otlp_http import OtlpHttpExporter

            exporters.append(OtlpHttpExporter(settings.traces_endpoint))
        elif kind == "otlp-http-sdk":
            # The SDK's own exporter: the public path, kept as the switch back.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            exporters.append(HttpExporter(endpoint=settings.traces_endpoint))
        elif kind == "file":
            settings.traces_dir.mkdir(parents=True, exist_ok=True)
            path = settings.traces_dir / f"{settings.service}-{settings.replica}.jsonl"
            out = path.open("a", encoding="utf-8")
            files.append(out)
            exporters.append(ConsoleSpanExporter(out=out, formatter=_JsonLines.format))
        telemetry = cls(
            settings.service,
            replica=settings.replica,
            exporters=exporters,
            sample_ratio=settings.sample_ratio,
            # Locally a person runs scripts/trace right after a call: spans reach
            # the file within half a second instead of the SDK's five.
            batch_delay=LOCAL_BATCH_DELAY if kind == "file" else None,
        )
        telemetry._files = files
        if exporters:
            log.info(
                "tracing on",
                extra={"exporter": kind, "sample_ratio": settings.sample_ratio},
            )
        return telemetry

    def unrecorded(self, parent: str | bytes | None) -> str | None:
        """The caller's ``traceparent`` if it says "not recorded": no span here, it goes on as is."""
        if isinstance(parent, str) and _UNRECORDED.fullmatch(parent):
            return parent
        return None

    def entry(self, parent: str | None, name: str, attributes: dict[str, Any]) -> EntrySpan | str:
        """At the front door: the request's span if it is recorded, else the
        ``traceparent`` to send on (its trace id reaches every access line).

        A client's sampled trace is recorded only if this ratio would record its id
        too, so a client cannot force every request to be recorded. The span is
        made without the SDK's ``Span``: the SDK's sampler would have nothing left
        to decide, and its span object (locks, bounded attributes, the processors'
        start hooks) was half of what a recorded request cost the gateway. What the
        processors receive is the SDK's own ``ReadableSpan``, as ``Span.end`` hands it.
        """
        remote = parse_traceparent(parent) if parent is not None else None
        if remote is None:
            trace_id = self._ids.new_trace_id()
            recorded = trace_id & _LOW_64 < self._bound
        else:
            trace_id = remote.trace_id
            recorded = remote.trace_flags.sampled and trace_id & _LOW_64 < self._bound
        span_id = self._ids.generate_span_id()
        if not recorded:
            return f"00-{trace_id:032x}-{span_id:016x}-00"
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)
        return EntrySpan(self, name, context, remote, attributes)

    def _ended(self, span: ReadableSpan) -> None:
        for processor in self._processors:
            processor.on_end(span)

    def start_server_span(
        self, name: str, parent: str | bytes | None, attributes: dict[str, Any]
    ) -> Span | None:
        """A SERVER span under the caller's ``traceparent`` (None when tracing is off)."""
        if self.tracer is None:
            return None
        return self.tracer.start_span(
            name,
            context=parent_context(parent),
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )

    def shutdown(self) -> None:
        """Export what is still queued and close the files (at process exit)."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None
        for out in self._files:
            out.close()
        self._files = []


class EntrySpan:
    """A recorded request at the front door, from its start to :meth:`end` (see
    :meth:`Telemetry.entry`)."""

    __slots__ = ("_attributes", "_name", "_owner", "_parent", "_start", "context")

    def __init__(
        self,
        owner: Telemetry,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
    ) -> None:
        self._owner = owner
        self._name = name
        self.context = context
        self._parent = parent
        self._attributes = attributes  # shared per route: copied at the end, never changed
        self._start = time.time_ns()

    def end(self, http_status: int, code: str) -> None:
        """Hand the finished span to the exporters; a 5xx marks it an error."""
        attributes = {**self._attributes, "http.response.status_code": http_status}
        owner = self._owner
        owner._ended(
            ReadableSpan(
                name=self._name,
                context=self.context,
                parent=self._parent,
                resource=owner._resource,
                attributes=attributes,
                kind=SpanKind.SERVER,
                instrumentation_scope=owner._scope,
                status=Status(StatusCode.ERROR, code) if http_status >= 500 else _UNSET,
                start_time=self._start,
                end_time=time.time_ns(),
            )
        )


_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
