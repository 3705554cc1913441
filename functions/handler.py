"""What every function shares: the event's fields, the fault drill, sync Lambda entry.

A function is ``async def step(event, runtime) -> dict``; :func:`lambda_handler`
turns it into Lambda's ``handler(event, context)`` on one event loop and one
:class:`~functions.runtime.FunctionRuntime` per process (reused while warm).

``MESH_WORKFLOW_FAULTS`` is a drill, not a mock: ``commit_stock=2`` makes
``commit_stock`` fail with ``ServiceUnavailable`` on its first two invocations
for each order, so the definition's Retry is seen doing its work (and a count
above its MaxAttempts proves the Catch and the compensation). The count lives
in the process: exact under the local worker, approximate across Lambda's
concurrent containers, which is why it is meant for local drills.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from functions.errors import BadEvent, ServiceUnavailable
from functions.runtime import FunctionRuntime

__all__ = ["Step", "field", "inject_fault", "lambda_handler", "parse_faults"]

Step = Callable[[dict[str, Any], FunctionRuntime], Awaitable[dict[str, Any]]]
_FAULT = re.compile(r"^([a-z][a-z0-9_]{0,39})=(\d{1,3})$")
_ORDER = re.compile(r"^orders/[0-9a-f]{32}\Z")
_RESERVATION = re.compile(r"^reservations/[A-Za-z0-9._-]{1,128}\Z")
_TOKEN_MAX = 8192
_PATTERNS = {"order": _ORDER, "reservation": _RESERVATION}
_lock = threading.Lock()
_attempts: Counter[tuple[str, str]] = Counter()


def parse_faults(value: str | None) -> dict[str, int]:
    """``commit_stock=2,mark_order=1`` as {function: failures}; raises ValueError on garbage."""
    faults: dict[str, int] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        match = _FAULT.match(part)
        if match is None:
            raise ValueError(f"MESH_WORKFLOW_FAULTS: {part!r} is not function=count")
        faults[match.group(1)] = int(match.group(2))
    return faults


def inject_fault(function: str, key: str, environ: Mapping[str, str] | None = None) -> None:
    """Fail the first N invocations of ``function`` for ``key`` (an order), per the drill."""
    env = os.environ if environ is None else environ
    failures = parse_faults(env.get("MESH_WORKFLOW_FAULTS")).get(function, 0)
    if not failures:
        return
    with _lock:
        _attempts[(function, key)] += 1
        attempt = _attempts[(function, key)]
    if attempt <= failures:
        raise ServiceUnavailable(
            f"drill: {function} fails its first {failures} attempts (attempt {attempt})"
        )


def field(event: Mapping[str, Any], name: str) -> str:
    """A resource name from the event, checked: the workflow's input is data, not trusted."""
    value = event.get(name)
    if name == "task_token":
        if not isinstance(value, str) or not 0 < len(value) <= _TOKEN_MAX:
            raise BadEvent(f"event.{name}: must be a string of 1..{_TOKEN_MAX} characters")
        return value
    pattern = _PATTERNS.get(name)
    if pattern is None or not isinstance(value, str) or not pattern.match(value):
        raise BadEvent(f"event.{name}: missing or malformed")
    return value


class _Process:
    """One event loop and one runtime per process, for every warm invocation."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runtime: FunctionRuntime | None = None

    def run(self, function: str, step: Step, event: dict[str, Any]) -> dict[str, Any]:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        if self.runtime is None:
            self.runtime = FunctionRuntime.from_env(function)
        return self.loop.run_until_complete(step(event, self.runtime))


_process = _Process()


def lambda_handler(function: str, step: Step) -> Callable[[dict[str, Any], object], dict[str, Any]]:
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        if not isinstance(event, dict):
            raise BadEvent("the event must be a JSON object")
        return _process.run(function, step, event)

    handler.__name__ = "handler"
    handler.__doc__ = f"Lambda entry point of {function}."
    return handler
