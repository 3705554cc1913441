"""Waiting for a condition to hold, never for a guessed time.

``until`` re-checks a real observation (a stock level, a health status, a log
line) until it holds or the deadline passes; the deadline only bounds a
failing test, it is not the synchronisation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, what: str = "the condition"
) -> T:
    """The first truthy result of ``check``; fails after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} (last: {result!r})"
            )
        await asyncio.sleep(0.02)  # the poll period of a re-checked observation


def until_sync(check: Callable[[], T], *, timeout: float = 15.0, what: str = "the condition") -> T:
    """``until`` for code outside an event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} (last: {result!r})"
            )
        time.sleep(0.02)  # the poll period of a re-checked observation
