"""Server-streaming RPCs over HTTP/1.1: NDJSON by default, SSE on request.

The first message (or the first error) is awaited before any header goes
out, so an RPC that fails at once gets a proper HTTP status; a failure
after that can only be a terminal ``{"error": Status}`` line (or an SSE
``error`` event) after the 200.
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

__all__ = ["NDJSON", "SSE", "stream_response"]

NDJSON = b"application/x-ndjson"
SSE = b"text/event-stream"


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
) -> tuple[int, grpc.aio.AioRpcError | None]:
    """Relay ``call``; returns the HTTP status sent and an error raised before any output."""
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
    try:
        if first is not None:
            await send(_body(_frame(transcoder.render_value(first), sse)))
            try:
                async for message in iterator:
                    await send(_body(_frame(transcoder.render_value(message), sse)))
            except grpc.aio.AioRpcError as error:
                if error.code() is not grpc.StatusCode.CANCELLED or not watcher.done():
                    await send(_body(_frame(status_from_rpc_error(error), sse, error=True)))
            except asyncio.CancelledError:
                if not watcher.done():
                    raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return 200, None


def _body(chunk: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": chunk, "more_body": True}
