"""The few raw ASGI helpers the gateway needs (no framework on the hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gateway.errors import GatewayError

__all__ = ["IMMUTABLE", "Receive", "Scope", "Send", "accepts_gzip", "read_body", "respond"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
# Cache-Control of a file whose name carries its content's hash.
IMMUTABLE = b"public, max-age=31536000, immutable"


def accepts_gzip(accept: bytes) -> bool:
    """Whether an Accept-Encoding value takes gzip (and does not refuse it with q=0)."""
    for item in accept.split(b","):
        coding, _, params = item.partition(b";")
        if coding.strip().lower() != b"gzip":
            continue
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip().lower() == b"q":
                try:
                    return float(value.strip()) > 0
                except ValueError:
                    return False
        return True
    return False


async def respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    content_type: bytes = JSON,
) -> None:
    headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The whole request body, or 413 as soon as it is known to exceed ``limit``."""
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> GatewayError:
    import grpc

    return GatewayError(
        f"request body larger than {limit} bytes",
        http_status=413,
        code=grpc.StatusCode.RESOURCE_EXHAUSTED,
        violations=[("body", f"at most {limit} bytes")],
    )
