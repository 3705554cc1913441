"""Waiting for a condition to hold, never for a guessed time.

``until`` re-checks a real observation (a stock level, a health status, a log
line) until it holds or the deadline passes; the deadline only bounds a
failing test, it is not the synchronisation. ``until_state`` does the same for
a plain attribute or counter read from inside an event loop, ``until_sync``
outside one, ``until_line`` for a line a process writes to its log file.
Where the code under test can raise the signal itself, an event beats a
poll: ``WatchedStream`` sets one on each write (an access log's flush).
"""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

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


async def until_state(
    check: Callable[[], T], *, timeout: float = 15.0, what: str = "the condition"
) -> T:
    """``until`` for a synchronous observation (a flag, a counter) inside an event loop."""

    async def observe() -> T:
        return check()

    return await until(observe, timeout=timeout, what=what)


class Exited(AssertionError):
    """The process ended before it wrote what a test waited for."""


def until_line(
    path: Path,
    text: str,
    *,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 30.0,
) -> str:
    """The content of ``path`` once it holds ``text``; fails at once if ``process`` exits first."""

    def content() -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def seen() -> str:
        if text in (found := content()):
            return found
        if process is not None and process.poll() is not None:
            raise Exited(
                f"exited with code {process.returncode} before writing {text!r}:\n{found[-3000:]}"
            )
        return ""

    try:
        return until_sync(seen, timeout=timeout, what=f"{text!r} in {path}")
    except Exited:
        raise
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the end of the file:\n{content()[-3000:]}") from None


class WatchedStream(io.StringIO):
    """A text stream that sets ``written`` (an asyncio event) on every write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` (a readiness check for ``until_sync``)."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True
