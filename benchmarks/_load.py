"""A small HTTP/1.1 load generator for ``scripts/bench orders``.

Keep-alive connections over asyncio streams, requests written by hand: a few
tens of µs of client CPU per request, so the load generator is not what
saturates first on 2 shared cores. Two shapes:

- :func:`closed_loop`: ``concurrency`` connections, each sending its next
  request when the last answer came back (throughput at saturation);
- :func:`open_loop`: requests due at a fixed ``rate`` whatever the answers do
  (an answer's latency counts from when its request was due, so a slow server
  is not flattered by fewer requests: no coordinated omission).

Both measure a window after a warm-up: only answers that arrive inside it count,
and ``on_window`` is called at its two ends (the caller samples CPU there).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Tally", "closed_loop", "open_loop", "percentile_ms"]

# A request: (raw HTTP/1.1 bytes, what to do with a 200's body, e.g. keep an order's name).
Request = tuple[bytes, Callable[[bytes], None] | None]
MAX_CONNECTIONS = 256


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    window: float = 0.0

    @property
    def served(self) -> int:
        return sum(self.codes.values())

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.codes.items() if not 200 <= code < 300)

    @property
    def rate(self) -> float:
        return self.served / self.window if self.window else 0.0

    def percentile_ms(self, p: float) -> float:
        return percentile_ms(self.latencies, p)


def percentile_ms(seconds: list[float], p: float) -> float:
    """The ``p`` quantile of latencies in seconds, in ms (0 with none)."""
    if not seconds:
        return 0.0
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, body
        return status, await self.reader.readexactly(max(length, 0))

    def close(self) -> None:
        self.writer.close()


class _Window:
    """Answers inside [start, end) count; ``on_window`` marks both ends."""

    def __init__(self, warm_up: float, duration: float, on_window: Callable[[], None]) -> None:
        self.warm_up = warm_up
        self.duration = duration
        self.on_window = on_window
        self.start = float("inf")
        self.end = float("inf")
        self.tally = Tally()

    async def run(self) -> None:
        await asyncio.sleep(self.warm_up)  # the warm-up's length
        self.on_window()
        self.start = time.perf_counter()
        await asyncio.sleep(self.duration)  # the window's length
        self.on_window()
        self.end = time.perf_counter()
        self.tally.window = self.end - self.start

    def record(self, status: int, latency: float) -> None:
        now = time.perf_counter()
        if self.start <= now < self.end:
            self.tally.codes[status] += 1
            self.tally.latencies.append(latency)


async def _one(connection: _Connection, request: Request) -> int:
    raw, keep = request
    status, body = await connection.send(raw)
    if keep is not None and status == 200:
        keep(body)
    return status


async def closed_loop(
    port: int,
    make: Callable[[], Request],
    *,
    concurrency: int,
    warm_up: float,
    duration: float,
    on_window: Callable[[], None],
) -> Tally:
    window = _Window(warm_up, duration, on_window)
    done = asyncio.Event()

    async def worker() -> None:
        connection = await _Connection.open(port)
        try:
            while not done.is_set():
                started = time.perf_counter()
                status = await _one(connection, make())
                window.record(status, time.perf_counter() - started)
        finally:
            connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await window.run()
    finally:
        done.set()
        await asyncio.gather(*workers)
    return window.tally


async def open_loop(
    port: int,
    make: Callable[[], Request],
    *,
    rate: float,
    warm_up: float,
    duration: float,
    on_window: Callable[[], None],
) -> Tally:
    window = _Window(warm_up, duration, on_window)
    idle: list[_Connection] = []
    everyone: list[_Connection] = []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        async with slots:
            if idle:
                connection = idle.pop()
            else:
                connection = await _Connection.open(port)
                everyone.append(connection)
            status = await _one(connection, make())
            window.record(status, time.perf_counter() - due)
            idle.append(connection)

    timer = asyncio.create_task(window.run())
    started = time.perf_counter()
    total = int(rate * (warm_up + duration))
    try:
        for i in range(total):
            due = started + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)  # the schedule: the next request is due then
            task = asyncio.create_task(one(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await timer
        await asyncio.gather(*pending)
    finally:
        timer.cancel()
        for connection in everyone:
            connection.close()
    return window.tally
