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

from json import JSONEncoder
from typing import TextIO

from mesh.accesslog import LineBatcher, SecondClock

__all__ = ["AccessLog"]

_encode = JSONEncoder(ensure_ascii=True).encode  # escapes only what JSON requires


class AccessLog(LineBatcher):
    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 0.5, max_lines: int = 256
    ) -> None:
        super().__init__(
            flush_interval=interval, max_lines=max_lines, stream=stream, stream_name="stdout"
        )
        # logging.Formatter.formatTime's default shape.
        self._clock = SecondClock("%Y-%m-%d %H:%M:%S", utc=False, separator=",")

    def write(
        self, method: str, path: str, status: int, rpc: str, request_id: str, duration_ms: float
    ) -> None:
        self.append(
            f'{{"time":"{self._clock.now()}","level":"info","logger":"gateway.access",'
            f'"method":{_encode(method)},"path":{_encode(path)},"status":{status},'
            f'"rpc":{_encode(rpc)},"request_id":{_encode(request_id)},'
            f'"duration_ms":{round(duration_ms, 3)!r}}}'
        )

    def close(self) -> None:
        self.flush()
