"""The access log: one JSON object per call, written in batches.

A ``logging`` record per call cost more CPU than the call it described (about
70 µs against a 160 µs call on the benchmark machine), so access lines are
formatted with one ``json.dumps`` and written to stderr in batches: at most
every ``flush_interval`` seconds or ``max_lines`` lines, and at shutdown.
Lines carry the same fields as the other JSON logs (``ts``, ``level``,
``service``, ``logger``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TextIO

__all__ = ["AccessLog", "LineBatcher", "SecondClock"]


def _quote(text: str) -> str:
    # Request ids are checked or generated plain, peers come from gRPC: a dumps is rarely needed.
    if '"' in text or "\\" in text or not text.isprintable():
        return json.dumps(text)
    return f'"{text}"'


class LineBatcher:
    """Collects log lines and writes them together: after ``flush_interval`` seconds,
    at ``max_lines`` lines, or on :meth:`flush`. The stream is looked up at write
    time (``sys.<stream_name>`` unless one is given), since tests and runners swap it.
    """

    def __init__(
        self,
        *,
        flush_interval: float = 0.5,
        max_lines: int = 512,
        stream: TextIO | None = None,
        stream_name: str = "stderr",
    ) -> None:
        self.flush_interval = flush_interval
        self.max_lines = max_lines
        self._stream = stream
        self._stream_name = stream_name
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def append(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self.max_lines:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.flush_interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        stream: TextIO = self._stream or getattr(sys, self._stream_name)
        stream.write("\n".join(lines) + "\n")
        stream.flush()


class SecondClock:
    """A timestamp whose ``strftime`` part is computed once a second, not once a line."""

    def __init__(
        self, pattern: str, *, utc: bool = True, separator: str = ".", suffix: str = ""
    ) -> None:
        self.pattern = pattern
        self.convert = time.gmtime if utc else time.localtime
        self.separator = separator
        self.suffix = suffix
        self._second = -1
        self._stamp = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.pattern, self.convert(second))
        return f"{self._stamp}{self.separator}{int((now - second) * 1000):03d}{self.suffix}"


class AccessLog(LineBatcher):
    """One JSON line per call of a mesh service, on stderr like its other logs."""

    def __init__(
        self,
        service: str,
        *,
        flush_interval: float = 0.5,
        max_lines: int = 512,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(flush_interval=flush_interval, max_lines=max_lines, stream=stream)
        self.service = service
        self._service = json.dumps(service)
        self._prefixes: dict[str, str] = {}
        self._clock = SecondClock("%Y-%m-%dT%H:%M:%S", suffix="Z")

    def record(
        self, method: str, code: str, duration_ms: float, request_id: str, peer: str
    ) -> None:
        """One line; every string is JSON-escaped, the constant part built once per method."""
        prefix = self._prefixes.get(method)
        if prefix is None:
            prefix = self._prefixes[method] = (
                f'{{"level":"INFO","service":{self._service},"logger":"mesh.access",'
                f'"msg":"call","method":{json.dumps(method)},'
            )
        self.append(
            f'{prefix}"ts":"{self._clock.now()}","code":"{code}",'
            f'"duration_ms":{duration_ms:.3f},"request_id":{_quote(request_id)},'
            f'"peer":{_quote(peer)}}}'
        )
