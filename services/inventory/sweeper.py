"""Releases lapsed reservations in the background, while the service runs.

Every replica runs one; :meth:`InventoryStore.sweep` makes that safe (each
reservation is released by exactly one of them). An error (the database is
down) is logged and the next round tries again: a lapsed reservation only
waits a little longer for its stock to come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.inventory.store import InventoryStore

__all__ = ["Sweeper"]

log = logging.getLogger("inventory.sweeper")


class Sweeper:
    """A server lifecycle: sweeps every ``interval`` seconds between start and stop."""

    def __init__(self, store: InventoryStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self, server: Any = None) -> None:
        self._task = asyncio.create_task(self._run(), name="reservation-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep_once(self) -> int:
        released = 0
        # Batch after batch until one releases nothing (another replica may have
        # taken a batch; the next round finds anything left).
        while batch := await self.store.sweep():
            released += batch
        if released:
            log.info("released lapsed reservations", extra={"count": released})
        return released

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep_once()
            except Exception:
                log.warning(
                    "reservation sweep failed; next round in %ss", self.interval, exc_info=True
                )
