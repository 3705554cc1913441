"""In-process change notifications for WatchOrder.

Watchers wake at once for changes made by this process, and poll the store at
a slower pace for changes made by another replica.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["OrderEvents"]


class OrderEvents:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self.closed = asyncio.Event()

    def publish(self, order_id: str) -> None:
        for event in self._waiters.get(order_id, ()):
            event.set()

    @contextmanager
    def subscribe(self, order_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters[order_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters[order_id]
            waiters.discard(event)
            if not waiters:
                del self._waiters[order_id]

    async def close(self) -> None:
        """Wake every watcher for good (shutdown), so open streams end before draining."""
        self.closed.set()
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()
