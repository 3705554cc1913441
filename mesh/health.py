"""The standard health service, with an end for its Watch streams at shutdown.

Clients that check health (``healthCheckConfig`` in :mod:`mesh.channels`) keep
one ``Watch`` stream open per connection. ``grpc.aio``'s ``stop(grace)`` waits
for every open call, so without an end to those streams each replica's stop
would last the whole grace period even with nothing else in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import health, health_pb2

__all__ = ["HealthServicer"]


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self._closing = asyncio.Event()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        if self._closing.is_set():
            return
        watch = asyncio.ensure_future(super().Watch(request, context))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({watch, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, closing):
                task.cancel()
            await asyncio.gather(watch, closing, return_exceptions=True)
        if watch.done() and not watch.cancelled() and watch.exception() is not None:
            raise watch.exception()  # type: ignore[misc]

    def end_watches(self) -> None:
        """End every open Watch stream with OK (and any opened later at once)."""
        self._closing.set()
