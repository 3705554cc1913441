"""The structured access log: one JSON object per request, written in batches.

Same line shape as the gateway's other log lines (:class:`gateway.__main__.JsonFormatter`)::

    {"time":"2026-01-02 03:04:05,678","level":"info","logger":"gateway.access",
     "method":"POST","path":"/v1/echo","status":200,"rpc":"pkg.Svc.Echo",
     "request_id":"...","duration_ms":0.412}

It bypasses :mod:`logging` on purpose: a LogRecord, the caller lookup and a
flush (a write syscall under ``PYTHONUNBUFFERED``) per request cost more than
the rest of the gateway's own work. Lines are buffered and written together at
most ``interval`` seconds after the first of them, or sooner when
``max_lines`` are waiting, and on :meth:`AccessLog.close`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from json import JSONEncoder
from typing import TextIO

__all__ = ["AccessLog"]

_encode = JSONEncoder(ensure_ascii=True).encode  # escapes only what JSON requires


class AccessLog:
    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 0.5, max_lines: int = 256
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._max_lines = max_lines
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def _time(self) -> str:
        # logging.Formatter.formatTime's default shape, formatted once per second.
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def write(
        self, method: str, path: str, status: int, rpc: str, request_id: str, duration_ms: float
    ) -> None:
        self._lines.append(
            f'{{"time":"{self._time()}","level":"info","logger":"gateway.access",'
            f'"method":{_encode(method)},"path":{_encode(path)},"status":{status},'
            f'"rpc":{_encode(rpc)},"request_id":{_encode(request_id)},'
            f'"duration_ms":{round(duration_ms, 3)!r}}}\n'
        )
        if len(self._lines) >= self._max_lines:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        text, self._lines = "".join(self._lines), []
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text)
        stream.flush()

    def close(self) -> None:
        self.flush()
