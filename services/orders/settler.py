"""Settles pending orders in the background: those a crashed process left behind.

An order is written PENDING and confirmed once its reservation is committed
(see :mod:`services.orders.servicer`). When a process dies between the two,
nobody is left to finish the order but a retry of the same request, which may
never come. Every ``interval`` seconds this finds pending orders older than
``interval`` (younger ones are being settled by the call that made them) and
settles them. It runs while the server is SERVING (an announcer: the clients it
calls are started by then, and it stops first at shutdown), and every replica
may run one: settling is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mesh.errors import MeshError
from mesh.timeutil import now_us
from services.orders.lifecycle import RESERVATION_MARGIN
from services.orders.servicer import OrdersServicer

__all__ = ["Settler"]

log = logging.getLogger("orders.settler")


class Settler:
    def __init__(self, servicer: OrdersServicer, interval: float) -> None:
        self.servicer = servicer
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def announce(self, server: Any) -> None:
        self._task = asyncio.create_task(self._run(), name="order-settler")

    async def withdraw(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def settle_once(self) -> int:
        """Settle the pending orders older than the interval; returns how many were handled."""
        before = now_us() - int(self.interval * 1_000_000)
        handled = 0
        for order in await self.servicer.store.pending(created_before=before):
            try:
                await self.servicer.settle(order)
                handled += 1
            except MeshError as exc:
                # Inventory or the database is down: the next round tries again.
                log.warning(
                    "could not settle a pending order: %s",
                    exc.message,
                    extra={"order_id": order.order_id},
                )
        if self.servicer.lifecycle.enabled:
            try:
                # A workflow lost (its interpreter restarted, say) leaves orders awaiting
                # payment for good: expire those past their deadline by the margin the
                # workflow had (when their reservations lapse too).
                handled += await self.servicer.lifecycle.expire_overdue(grace=RESERVATION_MARGIN)
            except MeshError as exc:
                log.warning("could not expire overdue orders: %s", exc.message)
        if handled:
            log.info("settled pending orders", extra={"count": handled})
        return handled

    async def _run(self) -> None:
        while True:
            try:
                await self.settle_once()
            except Exception:
                log.warning("settling pending orders failed", exc_info=True)
            await asyncio.sleep(self.interval)
