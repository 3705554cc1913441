"""Around every call of a service: who may call, error mapping, request context,
trace span, metrics, access log.

One wrapper per method handler, built once when the servicer is added, so the
per-call cost is two context-variable sets, a clock read, the method's metric
series (bound once, no lock) and (when on) one access-log line; with tracing on, a SERVER span
under the caller's ``traceparent``. This is our own code on the OpenTelemetry
API rather than ``opentelemetry-instrumentation-grpc``: that one is a
``grpc.aio.ServerInterceptor``, an extra coroutine per call that this module
already avoids (see :class:`MeshInterceptor`), and it would parse the metadata
a second time.

Access: the method's rule comes from its contract (:mod:`mesh.access`). A call
that carries a principal came from outside through the gateway and must pass
the rule again here (an internal method refuses it; scopes are checked); a call
without one is a peer's. ``trust`` decides whose principal metadata is
believed: by default any caller that can reach the port (the network is the
boundary), with mutual TLS the gateway's certificate.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode

from mesh.access import Rule, rule_for_path
from mesh.accesslog import AccessLog
from mesh.context import call_var
from mesh.errors import (
    MeshError,
    PermissionDenied,
    Unauthenticated,
    to_status,
    unavailable_cause,
)
from mesh.metrics import Metrics, RpcSeries
from mesh.principal import INTERNAL, PRINCIPAL_KEY, SCOPES_KEY, Principal, PrincipalError, parse
from mesh.telemetry import TRACEPARENT, Telemetry, ids_of

__all__ = ["REQUEST_ID_HEADER", "MeshInterceptor"]

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:/=+-]{1,128}\Z")
log = logging.getLogger("mesh.server")


# Request ids made here: a random per-process prefix and a counter, unique
# without a uuid4 per call.
_ids = itertools.count(1)
_ID_PREFIX = os.urandom(6).hex()


class _Call:
    """Bookkeeping for one call: the context variable in, the access-log line out."""

    __slots__ = (
        "code",
        "context",
        "forward",
        "method",
        "otel_token",
        "principal",
        "request_id",
        "span",
        "start",
        "token",
    )

    def __init__(
        self,
        method: str,
        context: aio.ServicerContext[Any, Any],
        telemetry: Telemetry | None,
        attributes: dict[str, Any],
    ) -> None:
        self.method = method
        self.context = context
        self.start = time.perf_counter()
        self.code = "OK"
        request_id = ""
        identity: str | bytes | None = None
        scopes: str | bytes = ""
        parent: str | bytes | None = None
        # One pass over the metadata for everything the mesh reads from it.
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_HEADER:
                # A client's id is kept only if it is plainly printable (it goes into logs).
                if isinstance(value, str) and _SAFE_ID.match(value):
                    request_id = value
            elif key == PRINCIPAL_KEY:
                identity = value if identity is None else b""  # twice: refused below
            elif key == SCOPES_KEY:
                scopes = value
            elif key == TRACEPARENT:
                parent = value
        self.span: Span | None = None
        self.otel_token: object = None
        self.forward: str | None = None
        if telemetry is not None:
            self.forward = telemetry.unrecorded(parent)
        if self.forward is None and telemetry is not None:
            self.span = telemetry.start_server_span(method[1:], parent, attributes)
            if self.span is not None:
                self.otel_token = otel_context.attach(trace.set_span_in_context(self.span))
        self.request_id = request_id or f"{_ID_PREFIX}{next(_ids):010x}"
        self.principal: Principal | PrincipalError = INTERNAL
        if identity is not None or scopes:
            if isinstance(identity, str) and isinstance(scopes, str):
                try:
                    self.principal = parse(identity, scopes)
                except PrincipalError as exc:
                    self.principal = exc
            else:
                self.principal = PrincipalError("malformed principal metadata")
        self.token = call_var.set(self)

    def time_remaining(self) -> float | None:
        left: float | None = self.context.time_remaining()
        return left


if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]
    _Generic = grpc.GenericRpcHandler[Any, Any]
else:
    _Handler = grpc.RpcMethodHandler
    _Generic = object


class MeshInterceptor:
    """Wraps each method handler once, when the servicer is added to the server.

    Wrapping at registration (see :class:`Registrar`) instead of through
    ``grpc.aio.ServerInterceptor`` saves an interceptor coroutine per call.
    """

    def __init__(
        self,
        service: str,
        *,
        access_log: AccessLog | None = None,
        trust: Callable[[aio.ServicerContext[Any, Any]], bool] | None = None,
        telemetry: Telemetry | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.service = service
        self.domain = f"{service}.shop"
        self.access_log = access_log
        self.trust = trust
        self.telemetry = telemetry if telemetry is not None and telemetry.tracer else None
        self.metrics = metrics
        # perf_counter() of the latest call's start: shutdown waits until calls stop arriving.
        self.last_call = 0.0

    def _begin(
        self, method: str, context: Any, attributes: dict[str, Any], series: RpcSeries | None
    ) -> _Call:
        call = _Call(method, context, self.telemetry, attributes)
        self.last_call = call.start
        if series is not None:
            series.in_flight.value += 1
        return call

    def _series(self, method: str) -> RpcSeries | None:
        # Looked up once per method, when its handler is wrapped.
        return self.metrics.rpc(method) if self.metrics is not None else None

    def wrap(self, method: str, handler: _Handler) -> _Handler:
        return self._wrap(method, handler)

    def _wrap(self, method: str, handler: _Handler) -> _Handler:
        h: Any = handler
        rule = rule_for_path(method)
        if h.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, rule, h.unary_unary),
                request_deserializer=h.request_deserializer,
                response_serializer=h.response_serializer,
            )
        if h.unary_stream is not None:
            # Streaming handlers either yield (async generator) or call context.write.
            stream = h.unary_stream
            wrapped = (
                self._stream(method, rule, stream)
                if inspect.isasyncgenfunction(stream)
                else self._unary(method, rule, stream)
            )
            return grpc.unary_stream_rpc_method_handler(
                wrapped,
                request_deserializer=h.request_deserializer,
                response_serializer=h.response_serializer,
            )
        return handler  # client/bidi streaming: not used by the mesh's contracts

    def _unary(
        self, method: str, rule: Rule, behavior: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Any]:
        attributes = _SPAN_ATTRIBUTES
        series = self._series(method)

        async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            call = self._begin(method, context, attributes, series)
            try:
                if call.principal is not INTERNAL:
                    self._admit(call, rule)
                return await behavior(request, context)
            except BaseException as exc:
                await self._fail(call, exc)
                raise
            finally:
                self._finish(call, series)

        return unary

    def _stream(
        self, method: str, rule: Rule, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., Any]:
        attributes = _SPAN_ATTRIBUTES
        series = self._series(method)

        async def stream(
            request: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = self._begin(method, context, attributes, series)
            try:
                if call.principal is not INTERNAL:
                    self._admit(call, rule)
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                await self._fail(call, exc)
                raise
            finally:
                self._finish(call, series)

        return stream

    def _admit(self, call: _Call, rule: Rule) -> None:
        """A call on behalf of someone outside: the contract's rule, checked again."""
        principal = call.principal
        if isinstance(principal, PrincipalError):
            raise Unauthenticated(str(principal), reason="PRINCIPAL_MALFORMED")
        if self.trust is not None and not self.trust(call.context):
            raise PermissionDenied(
                "principal metadata from a peer that may not send it",
                reason="PRINCIPAL_UNTRUSTED",
            )
        if not rule.public:
            raise PermissionDenied("this method is internal to the mesh", reason="INTERNAL_METHOD")
        if principal.anonymous and not rule.allow_anonymous:
            raise Unauthenticated("this method needs a signed-in caller", reason="TOKEN_MISSING")
        if not principal.has_all(rule.scopes):
            raise PermissionDenied(
                "the caller lacks a scope this method needs",
                reason="INSUFFICIENT_SCOPE",
                metadata={"scopes": " ".join(sorted(rule.scopes - principal.scopes))},
            )

    async def _fail(self, call: _Call, exc: BaseException) -> None:
        call.code = "CANCELLED" if isinstance(exc, asyncio.CancelledError) else "UNKNOWN"
        if isinstance(exc, Exception) and not isinstance(exc, MeshError | aio.AbortError):
            # A lost database connection is UNAVAILABLE (retried), not INTERNAL.
            exc = unavailable_cause(exc) or exc
        if isinstance(exc, MeshError):
            call.code = exc.code.name
            status = to_status(exc, self.domain)
            await call.context.abort(status.code, status.details, status.trailing_metadata)
        if isinstance(exc, aio.AbortError):
            call.code = _code_name(call.context.code())
        elif isinstance(exc, Exception):
            call.code = "INTERNAL"
            log.exception(
                "unhandled error in %s", call.method, extra={"request_id": call.request_id}
            )
            await call.context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _finish(self, call: _Call, series: RpcSeries | None) -> None:
        call_var.reset(call.token)
        seconds = time.perf_counter() - call.start
        if series is not None:
            series.in_flight.value -= 1
            series.observe(call.code, seconds)
        trace_id = span_id = ""
        span = call.span
        if span is not None:
            otel_context.detach(call.otel_token)  # type: ignore[arg-type]
            span.set_attribute("rpc.grpc.status_code", _CODE_NUMBERS.get(call.code, 2))
            if call.code != "OK":
                span.set_status(StatusCode.ERROR, call.code)
            span.end()
            ids = span.get_span_context()
            trace_id, span_id = format(ids.trace_id, "032x"), format(ids.span_id, "016x")
        elif call.forward is not None:
            trace_id, span_id = ids_of(call.forward)
        if self.access_log is None:
            return
        self.access_log.record(
            call.method,
            call.code,
            seconds * 1000,
            call.request_id,
            call.context.peer(),
            trace_id,
            span_id,
        )


_CODE_NUMBERS = {status.name: status.value[0] for status in grpc.StatusCode}


# The span's name is the method (``pkg.Service/Method``): rpc.service and rpc.method
# would repeat it, and every attribute costs encoding time on every exported span
# (OTLP encoding is most of what a recorded span costs).
_SPAN_ATTRIBUTES: dict[str, Any] = {"rpc.system": "grpc"}


def _code_name(code: Any) -> str:
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    # Cython servicer contexts report the raw integer code.
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


class _WrappedGeneric(_Generic):
    def __init__(self, inner: Any, calls: MeshInterceptor) -> None:
        self.inner = inner
        self.calls = calls
        self._cache: dict[str, _Handler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> _Handler | None:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if method not in self._cache:
            handler = self.inner.service(handler_call_details)
            self._cache[method] = None if handler is None else self.calls.wrap(method, handler)
        return self._cache[method]


class Registrar:
    """Stands in for the server while generated ``add_*_to_server`` functions run."""

    def __init__(self, server: aio.Server, calls: MeshInterceptor) -> None:
        self.server = server
        self.calls = calls

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(h, self.calls) for h in handlers)
        )

    def add_registered_method_handlers(self, service: str, handlers: dict[str, _Handler]) -> None:
        wrapped = {name: self.calls.wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        self.server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)
