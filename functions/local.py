"""The local Lambda runtime: runs the functions for the local workflow interpreter.

``workflows/local/server.mjs`` starts ``python -m functions.local`` once and
sends it one JSON line per Lambda invocation on stdin::

    {"id": 7, "function": "commit_stock", "payload": {...}}

and reads one line back per invocation, in any order, on stdout::

    {"id": 7, "result": {...}}
    {"id": 7, "errorType": "ServiceUnavailable", "errorMessage": "..."}

``errorType`` is the exception's class name, as Lambda reports it, so the
definition's Retry and Catch see the same errors here and on AWS. Invocations
run concurrently on one event loop and share one
:class:`~functions.runtime.FunctionRuntime`. Only the functions services.yaml
names can be invoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import sys
import threading
from typing import Any

from functions.handler import Step
from functions.runtime import LOCAL_WORKER, FunctionRuntime
from mesh.logs import configure_logging
from mesh.topology import load_topology

__all__ = ["main"]

log = logging.getLogger("functions.local")
MAX_LINE = 1024 * 1024


def load_steps() -> dict[str, Step]:
    steps: dict[str, Step] = {}
    for name in load_topology().functions:
        module = importlib.import_module(f"functions.{name}")
        steps[name] = module.step
    return steps


async def invoke(steps: dict[str, Step], runtime: FunctionRuntime, line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError:
        return {"id": None, "errorType": "BadEvent", "errorMessage": "not JSON"}
    ident = request.get("id") if isinstance(request, dict) else None
    if not isinstance(request, dict) or not isinstance(ident, int):
        return {"id": None, "errorType": "BadEvent", "errorMessage": "not an invocation"}
    step = steps.get(str(request.get("function")))
    payload = request.get("payload")
    if step is None:
        return {
            "id": ident,
            "errorType": "ResourceNotFoundException",
            "errorMessage": "no such function",
        }
    if not isinstance(payload, dict):
        return {"id": ident, "errorType": "BadEvent", "errorMessage": "the event must be an object"}
    try:
        return {"id": ident, "result": await step(payload, runtime)}
    except Exception as exc:
        if not type(exc).__module__.startswith("functions."):
            log.exception("function %s failed", request.get("function"))
        return {"id": ident, "errorType": type(exc).__name__, "errorMessage": str(exc)}


async def serve() -> None:
    steps = load_steps()
    runtime = FunctionRuntime.from_env(LOCAL_WORKER)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        # stdin is a pipe; a thread reads it so the loop keeps serving calls meanwhile.
        for line in sys.stdin:
            if len(line) <= MAX_LINE:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="invocations", daemon=True).start()
    running: set[asyncio.Task[None]] = set()

    async def one(line: str) -> None:
        reply = await invoke(steps, runtime, line)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    try:
        while (line := await lines.get()) is not None:
            task = asyncio.create_task(one(line))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.wait(running)
    finally:
        await runtime.close()


def main() -> int:
    configure_logging("functions", "INFO")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
