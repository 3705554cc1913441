"""uvicorn's httptools protocol, sending each response's head and body in one write.

uvicorn writes the status line and headers when the app sends
``http.response.start`` and the body on ``http.response.body``: two ``send``
syscalls and, with TCP_NODELAY, two segments for every response. The gateway
always sends a unary response's start and body back to back, so the head is
held until the first body write (or the end of the response, or the
connection's close) and leaves with it. Everything else (parsing, keep-alive,
pipelining, flow control, limits, shutdown) is uvicorn's.

A ``100 Continue`` interim response is never held: the client waits for it
before it sends the body.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingTransport", "GatewayHttpProtocol"]

_STATUS_LINE = (b"HTTP/1.1 ", b"HTTP/1.0 ")
_INTERIM = (b"HTTP/1.1 1", b"HTTP/1.0 1")


class CoalescingTransport:
    """Wraps a transport: holds a final response's head until the next write."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is not None:
            data = self._held + bytes(data)
            self._held = None
        elif (
            isinstance(data, bytes)
            and data.startswith(_STATUS_LINE)
            and not data.startswith(_INTERIM)
            and data.endswith(b"\r\n\r\n")
        ):
            self._held = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, is_closing, pause_reading, resume_reading, ...
        return getattr(self._transport, name)


class GatewayHttpProtocol(HttpToolsProtocol):
    """Pass as uvicorn's ``http`` setting (see :func:`gateway.__main__.uvicorn_options`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped: Any = CoalescingTransport(transport)
        super().connection_made(wrapped)

    def on_response_complete(self) -> None:
        # A response without body writes (HEAD, an empty streamed body) ends here.
        transport: Any = self.transport
        transport.flush()
        super().on_response_complete()
