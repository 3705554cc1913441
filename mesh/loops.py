"""Which asyncio event loop a service process runs on.

uvloop (libuv, in C) by default: a service's hot path is socket I/O to its
peers and its database, and asyncpg's transport writes and reads, the loop's
own bookkeeping and the wake-ups between calls all cost less CPU there than on
the standard library's selector loop (measured by ``scripts/bench orders``; the
gateway has run on uvloop under uvicorn from the start). ``asyncio`` keeps the
standard loop, for a platform without uvloop or to rule the loop out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EVENT_LOOPS", "EventLoop", "run"]

EventLoop = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[EventLoop, ...] = ("uvloop", "asyncio")

log = logging.getLogger("mesh.loops")
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], kind: EventLoop = "uvloop") -> T:
    """Run ``main`` to completion on a new loop of ``kind``, as ``asyncio.run`` does."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:  # not installable everywhere (Windows): the standard loop serves
            log.warning("uvloop is not installed; running on the standard asyncio loop")
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)
