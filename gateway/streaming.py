"""Server-streaming RPCs over HTTP/1.1: NDJSON by default, SSE on request.

The first message (or the first error) is awaited before any header goes
out, so an RPC that fails at once gets a proper HTTP status; a failure
after that can only be a terminal ``{"error": Status}`` line (or an SSE
``error`` event) after the 200.

While the backend sends nothing (a watched order that does not change), a
heartbeat goes out every ``heartbeat`` seconds so that proxies with an idle
timeout (API Gateway's REST API: 5 minutes; a load balancer's idle timeout)
keep the stream open: an empty object line ``{}`` in NDJSON (a message is
always ``{"result": ...}`` or ``{"error": ...}``, so clients skip ``{}``), a
comment line ``: keep-alive`` in SSE (which EventSource ignores by design).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc

from gateway.asgi import Receive, Send
from gateway.errors import status_from_rpc_error
from gateway.headers import metadata_headers
from gateway.render import dumps
from gateway.transcode import Transcoder

__all__ = ["HEARTBEAT_NDJSON", "HEARTBEAT_SSE", "NDJSON", "SSE", "stream_response"]

NDJSON = b"application/x-ndjson"
SSE = b"text/event-stream"
HEARTBEAT_NDJSON = b"{}\n"
HEARTBEAT_SSE = b": keep-alive\n\n"


def _frame(value: Any, sse: bool, *, error: bool = False) -> bytes:
    if sse:
        return (b"event: error\n" if error else b"") + b"data: " + dumps(value) + b"\n\n"
    return dumps({"error" if error else "result": value}) + b"\n"


async def stream_response(
    call: Any,
    transcoder: Transcoder,
    receive: Receive,
    send: Send,
    headers: list[tuple[bytes, bytes]],
    sse: bool,
    *,
    heartbeat: float | None = None,
) -> tuple[int, grpc.aio.AioRpcError | None]:
    """Relay ``call``; returns the HTTP status sent and an error raised before any output.

    ``heartbeat``: seconds of backend silence after which a heartbeat line
    goes out (None: never).
    """
    iterator = call.__aiter__()
    try:
        first = await iterator.__anext__()
    except StopAsyncIteration:
        first = None
    except grpc.aio.AioRpcError as error:
        return 0, error  # nothing sent yet: the caller answers with a plain error response

    headers.extend(metadata_headers(await call.initial_metadata()))
    headers.append((b"content-type", SSE if sse else NDJSON))
    headers.append((b"cache-control", b"no-cache"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def watch_disconnect() -> None:
        # A client that goes away must not keep a backend stream open.
        while (await receive())["type"] != "http.disconnect":
            pass
        call.cancel()

    watcher = asyncio.create_task(watch_disconnect())
    pending: asyncio.Future[Any] | None = None
    try:
        if first is not None:
            await send(_body(_frame(transcoder.render_value(first), sse)))
            try:
                while True:
                    # One read in flight at a time, never cancelled by the
                    # heartbeat: cancelling a read would cancel the RPC.
                    pending = asyncio.ensure_future(iterator.__anext__())
                    while not (await asyncio.wait((pending,), timeout=heartbeat))[0]:
                        await send(_body(HEARTBEAT_SSE if sse else HEARTBEAT_NDJSON))
                    try:
                        message = pending.result()
                    except StopAsyncIteration:
                        break
                    await send(_body(_frame(transcoder.render_value(message), sse)))
            except grpc.aio.AioRpcError as error:
                if error.code() is not grpc.StatusCode.CANCELLED or not watcher.done():
                    await send(_body(_frame(status_from_rpc_error(error), sse, error=True)))
            except asyncio.CancelledError:
                if not watcher.done():
                    raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if pending is not None and not pending.done():
            call.cancel()  # this request is being torn down: so is its backend call
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await pending
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return 200, None


def _body(chunk: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": chunk, "more_body": True}
