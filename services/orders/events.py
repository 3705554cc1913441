"""In-process change notifications for WatchOrder.

A change made by this process reaches its watchers at once, with the order as
the change left it, so a watcher sees every status this process set even when
the next one follows within a millisecond (PAID, then FULFILLED, from two
workflow steps). Changes made by another replica are found by polling the
store at a slower pace, and there only the latest state is seen.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.orders.store import OrderRecord

__all__ = ["Changes", "OrderEvents"]

# Statuses an order passes through are few; a watcher further behind than
# this many changes of one order still ends on the latest state.
_BACKLOG = 32


class Changes:
    """One watcher's changes of one order, in the order they were published."""

    def __init__(self) -> None:
        self._woken = asyncio.Event()
        self._records: deque[OrderRecord | None] = deque(maxlen=_BACKLOG)

    def put(self, record: OrderRecord | None) -> None:
        self._records.append(record)
        self._woken.set()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, timeout: float) -> None:
        """Until a change is published or ``timeout`` seconds pass (the poll)."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=timeout)
        self._woken.clear()

    def take(self) -> list[OrderRecord | None]:
        """The changes since the last take; None for one whose state is not known."""
        records = list(self._records)
        self._records.clear()
        return records


class OrderEvents:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[Changes]] = defaultdict(set)
        self.closed = asyncio.Event()

    def publish(self, order_id: str, record: OrderRecord | None = None) -> None:
        """Tell watchers the order changed; ``record`` is its state right after, if known."""
        for changes in self._waiters.get(order_id, ()):
            changes.put(record)

    @contextmanager
    def subscribe(self, order_id: str) -> Iterator[Changes]:
        changes = Changes()
        self._waiters[order_id].add(changes)
        try:
            yield changes
        finally:
            waiters = self._waiters[order_id]
            waiters.discard(changes)
            if not waiters:
                del self._waiters[order_id]

    async def close(self) -> None:
        """Wake every watcher for good (shutdown), so open streams end before draining."""
        self.closed.set()
        for waiters in self._waiters.values():
            for changes in waiters:
                changes.wake()
