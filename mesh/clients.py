"""Channels to other services by name, and one way to call them.

Every outbound call goes through :meth:`Clients.call`: it gets a deadline (the
default, capped by the inbound call's), carries the request id and the trace
context (a CLIENT span's W3C ``traceparent``, when tracing is on; gRPC's own
retries resend it with every attempt), is counted in
``mesh_rpc_client_duration_seconds``, and a failed call turns back into a
:class:`~mesh.errors.MeshError` with its details, so an upstream error travels
on unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from grpc import aio
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from mesh.context import (
    current_principal,
    current_request_id,
    remaining,
    unrecorded_traceparent,
)
from mesh.errors import DeadlineExceeded, MeshError, Unavailable, from_rpc_error
from mesh.interceptors import REQUEST_ID_HEADER
from mesh.metrics import Metrics
from mesh.principal import to_metadata
from mesh.telemetry import TRACEPARENT, Telemetry, traceparent

__all__ = ["ChannelSource", "Clients"]

Resp = TypeVar("Resp")


class ChannelSource(Protocol):
    def channel(self, service: str) -> aio.Channel: ...


class Clients:
    """Outbound calls by service name over a channel source (a server lifecycle).

    >>> clients = Clients(ServiceChannels(registry, {...}))
    >>> reply = await clients.call(stub.GetProduct, request)
    """

    def __init__(
        self,
        channels: ChannelSource,
        *,
        call_timeout: float = 5.0,
        telemetry: Telemetry | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.channels = channels
        self.call_timeout = call_timeout
        self.tracer = telemetry.tracer if telemetry is not None else None
        self.metrics = metrics
        self._stubs: dict[tuple[str, Any], tuple[aio.Channel, Any]] = {}

    def channel(self, service: str) -> aio.Channel:
        return self.channels.channel(service)

    def stub(self, service: str, factory: Callable[[aio.Channel], Any]) -> Any:
        """A stub on the service's current channel, made once per channel, not per call."""
        channel = self.channel(service)
        key = (service, factory)
        cached = self._stubs.get(key)
        if cached is None or cached[0] is not channel:
            # The channel is replaced when the endpoint set changes; so is its stub.
            cached = self._stubs[key] = (channel, factory(channel))
        return cached[1]

    async def call(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Any,
        *,
        timeout: float | None = None,
        service: str = "",
        on_behalf_of_caller: bool = False,
    ) -> Resp:
        """Call ``method`` with a deadline and the request id.

        ``on_behalf_of_caller`` passes the inbound call's principal on (the
        callee then acts for that user: ownership, scopes); never by default,
        so a peer call is the mesh's own unless a servicer says otherwise. With
        mutual TLS the callee believes it only from services marked
        ``forwards_principal`` in services.yaml.
        """
        budget = remaining(self.call_timeout if timeout is None else timeout)
        if budget <= 0:
            raise DeadlineExceeded(
                "no time left for an outbound call", reason="DEADLINE_PROPAGATED"
            )
        request_id = current_request_id()
        metadata: tuple[tuple[str, str], ...] = (
            ((REQUEST_ID_HEADER, request_id),) if request_id else ()
        )
        if on_behalf_of_caller:
            metadata = (*metadata, *to_metadata(current_principal()))
        path = _method_path(method)
        span = None
        forward = unrecorded_traceparent() if self.tracer is not None else None
        if forward is not None:
            metadata = (*metadata, (TRACEPARENT, forward))
        elif self.tracer is not None:
            span = self.tracer.start_span(
                path.lstrip("/"),
                kind=trace.SpanKind.CLIENT,
                attributes={"rpc.system": "grpc", "server.address": service or "unknown"},
            )
            metadata = (*metadata, (TRACEPARENT, traceparent(span.get_span_context())))
        started = time.perf_counter()
        code = "OK"
        try:
            response: Resp = await method(request, timeout=budget, metadata=metadata or None)
        except aio.AioRpcError as exc:
            code = exc.code().name
            error = from_rpc_error(exc)
            if isinstance(error, Unavailable) and not error.domain and service:
                # A transport failure (no endpoint answered) names the service it was for.
                raise Unavailable(
                    f"service {service!r} is unavailable: {error.message}",
                    reason="SERVICE_UNAVAILABLE",
                    metadata={"service": service},
                ) from None
            raise error from None
        except grpc.RpcError as exc:  # pragma: no cover - sync errors do not occur on aio channels
            code = "UNKNOWN"
            raise MeshError(str(exc)) from None
        except BaseException:
            code = "CANCELLED"
            raise
        finally:
            if self.metrics is not None:
                self.metrics.client_done(service, path, code, time.perf_counter() - started)
            if span is not None:
                if code != "OK":
                    span.set_status(StatusCode.ERROR, code)
                span.end()
        return response

    async def start(self, server: Any = None) -> None:
        # The server's telemetry, unless given: the process's one tracer and registry.
        if server is not None:
            if self.metrics is None:
                self.metrics = getattr(server, "metrics", None)
            if self.tracer is None:
                self.tracer = getattr(getattr(server, "telemetry", None), "tracer", None)
        services, watcher = (getattr(self.channels, n, None) for n in ("services", "watcher"))
        if self.metrics is not None and services is not None and callable(watcher):
            self.metrics.watch_discovery((name, watcher(name)) for name in services)
        start = getattr(self.channels, "start", None)
        if start is not None:
            await start(server)

    async def stop(self) -> None:
        stop = getattr(self.channels, "stop", None)
        if stop is not None:
            await stop()


def _method_path(method: Any) -> str:
    """``/pkg.Service/Method`` of a grpc.aio multi-callable (its private ``_method``, bytes)."""
    raw = getattr(method, "_method", b"")
    return raw.decode() if isinstance(raw, bytes) else str(raw)
