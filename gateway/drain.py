"""SIGTERM drain: report not-ready for a while, still serving, then let uvicorn stop.

A load balancer (ALB target group, API Gateway VPC link) only stops sending
work once a health check fails. So on SIGTERM the gateway first turns
``/readyz`` 503 for ``MESH_GATEWAY_DRAIN_SECONDS`` while it keeps serving,
and only then hands the signal to uvicorn, whose graceful shutdown closes the
listener and gives in-flight requests ``MESH_GATEWAY_GRACE_SECONDS``.

:class:`DrainOnSigterm` wraps the app and chains itself in front of
uvicorn's SIGTERM handler at lifespan start-up, in each worker process (a
worker is a uvicorn server of its own; with several workers the supervisor
forwards SIGTERM to each, and each drains). A second SIGTERM during the
drain stops at once; SIGINT (Ctrl-C) is left to uvicorn.

The one piece of state the layers share is a :class:`Drain`, made by the
composition root (:func:`gateway.app.create_app`) and handed to whoever sets
or reads it: this handler, the gateway's lifespan and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

from gateway.asgi import Message, Receive, Scope, Send

__all__ = ["Drain", "DrainOnSigterm"]

log = logging.getLogger("gateway")
_Handler = Any  # what signal.getsignal returns: a callable, SIG_DFL, SIG_IGN or None


class Drain:
    """Whether the gateway is draining: set once (SIGTERM or lifespan shutdown), never unset."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False

    def begin(self) -> None:
        self.draining = True


class DrainOnSigterm:
    """ASGI wrapper; ``seconds`` = 0 leaves SIGTERM to uvicorn alone."""

    def __init__(self, app: Any, drain: Drain, seconds: float) -> None:
        self.app = app
        self.drain = drain
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: _Handler = None
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return

        async def hooked() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.install()
            elif message["type"] == "lifespan.shutdown":
                self.uninstall()
            return message

        await self.app(scope, hooked, send)

    def install(self) -> None:
        # Signal handlers belong to the main thread (tests run servers in others).
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def uninstall(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
        self._loop = None

    def _on_sigterm(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining or self._loop is None:
            self._stop(sig)  # a second SIGTERM: no more waiting
            return
        self.drain.begin()
        # A signal handler runs between two bytecodes of the loop's thread: wake the
        # loop and schedule from there.
        self._loop.call_soon_threadsafe(self._start_timer, sig)

    def _start_timer(self, sig: int) -> None:
        log.info("SIGTERM: draining, /readyz reports 503 for %g s before shutdown", self.seconds)
        assert self._loop is not None
        self._timer = self._loop.call_later(self.seconds, self._stop, sig)

    def _stop(self, sig: int) -> None:
        self._timer = None
        previous = self._previous
        if callable(previous):
            previous(sig, None)  # uvicorn's handler: graceful shutdown
        elif previous != signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)
