"""A password-checking front for the test PostgreSQL server.

The test server trusts every local connection, so it cannot tell whether a
client sent the right password. :class:`PasswordFront` speaks just enough of
the PostgreSQL protocol to do what a password-protected server does: it asks
for a cleartext password, answers a wrong one with SQLSTATE 28P01 (as RDS
does), and relays an accepted connection byte for byte to the real server.
It records every password it was offered, which is what tests assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_PROTOCOL_3 = 196608


class PasswordFront:
    """Listens on 127.0.0.1 (a free port); accepts ``passwords``, relays to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], passwords: set[str]) -> None:
        self.upstream = upstream
        self.passwords = set(passwords)
        self.offered: list[str] = []  # every password a client sent, in order
        self.refused = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> PasswordFront:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # SSL and GSS encryption requests: "N" (not supported), then the startup
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            (code,) = struct.unpack("!i", body[:4])
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            if code != _PROTOCOL_3:
                return  # a cancel request or an unknown protocol: close
            startup = struct.pack("!i", length) + body
            break
        fields = body[4:].split(b"\0")
        params = dict(zip(fields[0::2], fields[1::2], strict=False))
        user = params.get(b"user", b"").decode()
        writer.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        await writer.drain()
        kind = await reader.readexactly(1)
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        payload = await reader.readexactly(length - 4)
        if kind != b"p":
            return
        password = payload.rstrip(b"\0").decode()
        self.offered.append(password)
        if password not in self.passwords:
            self.refused += 1
            writer.write(_error("28P01", f'password authentication failed for user "{user}"'))
            await writer.drain()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(startup)
            await up_writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


def _error(sqlstate: str, message: str) -> bytes:
    fields = b"".join(
        tag + value.encode() + b"\0"
        for tag, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()
