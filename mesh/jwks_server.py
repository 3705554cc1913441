"""A tiny HTTP/1.1 server for one JSON document: the local issuer's JWKS.

Not a web server: ``GET`` (and ``HEAD``) of one path, one request per
connection (``Connection: close``), on a loopback address. It still meets a
hostile client politely and cheaply: a request head is read into a buffer of
at most :data:`MAX_HEAD` bytes within :data:`HEAD_TIMEOUT` seconds, else the
answer is 431 or 408 and the connection closes; at most
:data:`MAX_CONNECTIONS` are open at once. Before closing, the server reads
and discards what the client is still sending (bounded in bytes and time), so
the client sees the status line rather than a connection reset.

    server = await start_jwks_server({"keys": [...]})
    server.url    # http://127.0.0.1:<port>/.well-known/jwks.json
    await server.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

__all__ = [
    "HEAD_TIMEOUT",
    "JWKS_PATH",
    "MAX_CONNECTIONS",
    "MAX_HEAD",
    "JwksServer",
    "start_jwks_server",
]

JWKS_PATH: Final = "/.well-known/jwks.json"
MAX_HEAD: Final = 8192
HEAD_TIMEOUT: Final = 10.0
MAX_CONNECTIONS: Final = 64
# Lingering close: enough to swallow an oversized head, not enough to be a sink.
_LINGER_BYTES = 1 << 21
_LINGER_SECONDS = 2.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _response(
    status: int, body: bytes, *headers: tuple[str, str], head_only: bool = False
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (b"" if head_only else body)


def _error(status: int, message: str, *headers: tuple[str, str]) -> bytes:
    body = json.dumps({"error": message}).encode("utf-8")
    return _response(status, body, ("Cache-Control", "no-store"), *headers)


class JwksServer:
    """A running server; ``url`` is where the JWKS is. Close it with ``await close()``."""

    def __init__(self, document: Mapping[str, Any], host: str, head_timeout: float) -> None:
        self._body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        self._host = host
        self._head_timeout = head_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def _start(self, port: int) -> None:
        # limit bounds the reader's buffer: readuntil gives up past it.
        self._server = await asyncio.start_server(self._handle, self._host, port, limit=MAX_HEAD)

    def replace(self, document: Mapping[str, Any]) -> None:
        """Serve ``document`` from now on (an issuer that published a new key)."""
        self._body = json.dumps(document, separators=(",", ":")).encode("utf-8")

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}{JWKS_PATH}"

    async def close(self) -> None:
        """Stop listening and end every open connection; safe to call twice."""
        if self._server is None:
            return
        self._server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> JwksServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > MAX_CONNECTIONS:
                answer = _error(503, "too many connections")
            else:
                answer = await self._answer(reader)
            if answer:
                writer.write(answer)
                await writer.drain()
                await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # The client went away; there is nobody to answer.
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        try:
            async with asyncio.timeout(self._head_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return _error(431, f"request head over {MAX_HEAD} bytes")
        except TimeoutError:
            return _error(408, "request head not received in time")
        except asyncio.IncompleteReadError as exc:
            return _error(400, "incomplete request") if exc.partial else b""
        request_line = head.split(b"\r\n", 1)[0]
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
            return _error(400, "not an HTTP/1.x request line")
        method, target, _ = parts
        if method not in (b"GET", b"HEAD"):
            return _error(405, "only GET and HEAD", ("Allow", "GET, HEAD"))
        path = target.split(b"?", 1)[0]
        if path != JWKS_PATH.encode("ascii"):
            return _error(404, f"the JWKS is at {JWKS_PATH}")
        return _response(
            200,
            self._body,
            ("Cache-Control", "public, max-age=300"),
            head_only=method == b"HEAD",
        )


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then drop what the client still sends until it closes (bounded)."""
    if writer.can_write_eof():
        writer.write_eof()
    discarded = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_LINGER_SECONDS):
            while discarded < _LINGER_BYTES:
                chunk = await reader.read(MAX_HEAD)
                if not chunk:
                    break
                discarded += len(chunk)


async def start_jwks_server(
    document: Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    head_timeout: float = HEAD_TIMEOUT,
) -> JwksServer:
    """Serve ``document`` at :data:`JWKS_PATH` on ``host`` (a loopback address) and ``port``.

    ``head_timeout``: seconds a client has to send its request head (408 after).
    """
    if not _is_loopback(host):
        raise ValueError(f"the local JWKS server listens on loopback only, not {host!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port}")
    server = JwksServer(document, host, head_timeout)
    await server._start(port)
    return server
