"""A TCP proxy on loopback that a test can cut: every open connection dropped at
once, or new ones refused until it is told to accept again. Put in front of the
real PostgreSQL, it is a network failure between a service and its database."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, upstream_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        both = [
            asyncio.ensure_future(pipe(client_r, upstream_w)),
            asyncio.ensure_future(pipe(upstream_r, client_w)),
        ]
        self._tasks.update(both)
        await asyncio.gather(*both, return_exceptions=True)
        self._tasks.difference_update(both)
        self._writers -= {client_w, upstream_w}

    def cut(self) -> int:
        """Drop every open connection (both sides see a reset); returns how many."""
        dropped = 0
        for writer in list(self._writers):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()
                dropped += 1
        self._writers.clear()
        return dropped

    async def refuse(self) -> None:
        """Stop listening (new connections are refused) and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()

    async def accept(self) -> None:
        """Listen again on the same port."""
        await self.start(self.port)

    async def close(self) -> None:
        await self.refuse()
        for task in list(self._tasks):
            task.cancel()
