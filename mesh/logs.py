"""One log schema for every process of the mesh: services, the gateway, the runner.

Every line on stderr is one JSON object with these keys::

    {"time": "2026-01-02T03:04:05.678Z",      RFC 3339, UTC, milliseconds
     "level": "INFO",                          DEBUG, INFO, WARNING, ERROR, CRITICAL
     "service": "orders", "replica": "0",      the process (replica: the ECS task id on AWS)
     "logger": "mesh.server", "message": "serving",
     "request_id": "...", "trace_id": "...", "span_id": "..."}   when the line belongs to a call

and whatever a caller passed in ``extra``. Access lines (one per call, from
:mod:`mesh.accesslog`) add ``rpc``, ``code`` (the gRPC status name),
``duration_ms`` and ``peer``; the gateway's also ``http_method``, ``route``
(the path template), ``path`` and ``http_status``. :func:`schema_problems`
says what is wrong with a parsed line; the tests run it over the log files of
a whole local mesh.

``trace_id`` is the W3C/OpenTelemetry id (32 hex digits). X-Ray shows the same
id as ``1-<first 8>-<last 24>`` (see :func:`mesh.telemetry.xray_trace_id`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from opentelemetry import trace

from mesh.context import current_request_id

__all__ = [
    "ACCESS_FIELDS",
    "ACCESS_LOGGERS",
    "CORE_FIELDS",
    "HTTP_ACCESS_FIELDS",
    "JsonFormatter",
    "configure_logging",
    "rfc3339",
    "schema_problems",
]

CORE_FIELDS = ("time", "level", "service", "replica", "logger", "message")
CALL_FIELDS = ("request_id", "trace_id", "span_id")
ACCESS_FIELDS = ("rpc", "code", "duration_ms", "peer")
HTTP_ACCESS_FIELDS = (*ACCESS_FIELDS, "http_method", "route", "path", "http_status")
ACCESS_LOGGERS = frozenset({"mesh.access", "gateway.access"})
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_HEX = frozenset("0123456789abcdef")

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def rfc3339(seconds: float) -> str:
    """``2026-01-02T03:04:05.678Z``: the one time format of every line."""
    import time

    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + (
        f".{int((seconds - whole) * 1000):03d}Z"
    )


class JsonFormatter(logging.Formatter):
    """The schema above, for :mod:`logging` records (access lines bypass logging)."""

    def __init__(self, service: str, replica: str = "0") -> None:
        super().__init__()
        self.service = service
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "service": self.service,
            "replica": self.replica,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_"):
                continue
            # An extra never overwrites the schema's own keys: it is kept beside them.
            entry[f"extra_{key}" if key in CORE_FIELDS else key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(
    service: str, level: str = "INFO", replica: str = "0", stream: TextIO | None = None
) -> None:
    """Every logger of the process to ``stream`` (stderr) in the schema above.

    Libraries' loggers (uvicorn's, gRPC's, SQLAlchemy's) propagate to the root
    and so come out in the same shape.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service, replica))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access logger stays as uvicorn left it (off): the gateway writes its own.
    for name in ("uvicorn", "uvicorn.error", "gateway"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def schema_problems(entry: Mapping[str, Any]) -> list[str]:
    """What in one parsed log line breaks the schema ([] when nothing does)."""
    problems = [f"missing {key}" for key in CORE_FIELDS if key not in entry]
    if problems:
        return problems
    time_ = entry["time"]
    if not (isinstance(time_, str) and len(time_) == 24 and time_[10] == "T" and time_[-1] == "Z"):
        problems.append(f"time {time_!r} is not RFC 3339 UTC with milliseconds")
    if entry["level"] not in _LEVELS:
        problems.append(f"level {entry['level']!r}")
    for key in ("service", "replica", "logger", "message"):
        if not isinstance(entry[key], str):
            problems.append(f"{key} is not a string")
    for key, size in (("trace_id", 32), ("span_id", 16)):
        value = entry.get(key)
        if value is not None and not (
            isinstance(value, str) and len(value) == size and set(value) <= _HEX
        ):
            problems.append(f"{key} {value!r} is not {size} hex digits")
    if entry["logger"] in ACCESS_LOGGERS:
        wanted = HTTP_ACCESS_FIELDS if entry["logger"] == "gateway.access" else ACCESS_FIELDS
        problems += [f"access line without {key}" for key in wanted if key not in entry]
        if not isinstance(entry.get("duration_ms"), int | float):
            problems.append("duration_ms is not a number")
    return problems
