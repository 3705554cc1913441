"""Server interceptor: error mapping, request context and the JSON access log.

One wrapper per method handler, built once and cached, so the per-call cost is
a context-variable set, a clock read and (when on) one log line.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio

from mesh.context import deadline_var, request_id_var
from mesh.errors import MeshError, to_status

__all__ = ["REQUEST_ID_HEADER", "MeshInterceptor"]

REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID = 128
access_log = logging.getLogger("mesh.access")
log = logging.getLogger("mesh.server")


def _request_id(context: aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if (
            key == REQUEST_ID_HEADER
            and isinstance(value, str)
            and 0 < len(value) <= _MAX_REQUEST_ID
        ):
            return value
    return uuid.uuid4().hex


class _Call:
    """Bookkeeping for one call: context variables in, log line and status out."""

    __slots__ = ("context", "method", "request_id", "start", "tokens")

    def __init__(self, method: str, context: aio.ServicerContext[Any, Any]) -> None:
        self.method = method
        self.context = context
        self.start = time.perf_counter()
        self.request_id = _request_id(context)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        self.tokens = (request_id_var.set(self.request_id), deadline_var.set(deadline))


if TYPE_CHECKING:
    _Interceptor = aio.ServerInterceptor[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _Interceptor = aio.ServerInterceptor


class MeshInterceptor(_Interceptor):
    def __init__(self, service: str, *, access_log_enabled: bool = True) -> None:
        self.service = service
        self.domain = f"{service}.shop"
        self.access_log_enabled = access_log_enabled
        self._cache: dict[str, _Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        cached = self._cache.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        wrapped = self._wrap(method, handler)
        self._cache[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: _Handler) -> _Handler:
        h: Any = handler
        if h.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, h.unary_unary),
                request_deserializer=h.request_deserializer,
                response_serializer=h.response_serializer,
            )
        if h.unary_stream is not None:
            # Streaming handlers either yield (async generator) or call context.write.
            stream = h.unary_stream
            wrapped = (
                self._stream(method, stream)
                if inspect.isasyncgenfunction(stream)
                else self._unary(method, stream)
            )
            return grpc.unary_stream_rpc_method_handler(
                wrapped,
                request_deserializer=h.request_deserializer,
                response_serializer=h.response_serializer,
            )
        return handler  # client/bidi streaming: not used by the mesh's contracts

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(method, context)
            try:
                return await behavior(request, context)
            except BaseException as exc:
                await self._fail(call, exc)
                raise
            finally:
                self._finish(call)

        return unary

    def _stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., Any]:
        async def stream(
            request: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = _Call(method, context)
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                await self._fail(call, exc)
                raise
            finally:
                self._finish(call)

        return stream

    async def _fail(self, call: _Call, exc: BaseException) -> None:
        if isinstance(exc, MeshError):
            status = to_status(exc, self.domain)
            await call.context.abort(status.code, status.details, status.trailing_metadata)
        if isinstance(exc, Exception) and not isinstance(exc, aio.AbortError):
            log.exception(
                "unhandled error in %s", call.method, extra={"request_id": call.request_id}
            )
            await call.context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _finish(self, call: _Call) -> None:
        request_id_var.reset(call.tokens[0])
        deadline_var.reset(call.tokens[1])
        if not self.access_log_enabled:
            return
        code = call.context.code()
        access_log.info(
            "call",
            extra={
                "method": call.method,
                "code": _code_name(code),
                "duration_ms": round((time.perf_counter() - call.start) * 1000, 3),
                "request_id": call.request_id,
                "peer": call.context.peer(),
            },
        )


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
