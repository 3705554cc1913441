"""Orders persistence: an order and its lines are written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.db import reader
from mesh.errors import NotFound
from mesh.timeutil import now_us
from services.orders.models import order_lines, orders

__all__ = [
    "CANCELLED",
    "CONFIRMED",
    "EXPIRED",
    "FAILED",
    "FINAL",
    "FULFILLED",
    "PAID",
    "PENDING",
    "PENDING_PAYMENT",
    "DuplicateRequest",
    "OrderRecord",
    "OrdersStore",
]

# PENDING: written, not yet settled (see servicer's docstring). CONFIRMED: the
# legacy lifecycle (MESH_WORKFLOW=off): committed at once, without payment.
CONFIRMED, CANCELLED, PENDING = "CONFIRMED", "CANCELLED", "PENDING"
# The payment workflow's lifecycle (services/orders/lifecycle.py).
PENDING_PAYMENT, PAID, FULFILLED = "PENDING_PAYMENT", "PAID", "FULFILLED"
EXPIRED, FAILED = "EXPIRED", "FAILED"
FINAL = frozenset({CANCELLED, FULFILLED, EXPIRED, FAILED})


class DuplicateRequest(Exception):
    """An order with this request_id exists already (a retry, or a concurrent twin)."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    owner: str
    request_id: str
    fingerprint: str
    status: str
    reservation_id: str
    currency_code: str
    total_minor: int
    lines: tuple[tuple[str, int, int], ...]  # (sku, quantity, unit_price_minor), sorted by sku
    create_time: int = 0
    update_time: int = 0
    # The payment workflow's (µs since the epoch; None without a workflow).
    payment_deadline: int | None = None
    payment_id: str | None = None
    task_token: str | None = None
    execution: str | None = None


class OrdersStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reads = reader(engine)

    async def create(self, record: OrderRecord) -> OrderRecord:
        """The order as written (its times set); what was written is known, so not read back."""
        now = now_us()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(orders).values(
                        order_id=record.order_id,
                        owner=record.owner,
                        request_id=record.request_id,
                        fingerprint=record.fingerprint,
                        status=record.status,
                        reservation_id=record.reservation_id,
                        currency_code=record.currency_code,
                        total_minor=record.total_minor,
                        payment_deadline=record.payment_deadline,
                        create_time=now,
                        update_time=now,
                    )
                )
                await conn.execute(
                    insert(order_lines),
                    [
                        {
                            "order_id": record.order_id,
                            "sku": s,
                            "quantity": q,
                            "unit_price_minor": p,
                        }
                        for s, q, p in record.lines
                    ],
                )
        except IntegrityError as exc:
            if await self.by_request_id(record.owner, record.request_id) is not None:
                raise DuplicateRequest(record.request_id) from exc
            raise
        return replace(record, create_time=now, update_time=now)

    async def get(self, order_id: str) -> OrderRecord:
        async with self.reads.connect() as conn:
            found = await self._load(conn, orders.c.order_id == order_id, 1)
        if not found:
            raise NotFound(
                f"order {order_id!r} not found",
                reason="ORDER_NOT_FOUND",
                metadata={"order_id": order_id},
            )
        return found[0]

    async def by_request_id(self, owner: str, request_id: str) -> OrderRecord | None:
        async with self.reads.connect() as conn:
            found = await self._load(
                conn, and_(orders.c.owner == owner, orders.c.request_id == request_id), 1
            )
        return found[0] if found else None

    async def page(
        self, *, owner: str | None, after: tuple[int, str] | None, limit: int
    ) -> tuple[list[OrderRecord], bool]:
        """Newest first, of one owner (None: everyone's); ``after`` is the
        (create_time, order_id) of the last order seen."""
        condition: Any = True if owner is None else orders.c.owner == owner
        if after is not None:
            time, order_id = after
            condition = and_(
                condition,
                or_(
                    orders.c.create_time < time,
                    and_(orders.c.create_time == time, orders.c.order_id < order_id),
                ),
            )
        async with self.reads.connect() as conn:
            found = await self._load(conn, condition, limit + 1)
        return found[:limit], len(found) > limit

    async def set_status(
        self, order_id: str, expected: str, status: str, *, at: int | None = None
    ) -> bool:
        """Moves the order from ``expected`` to ``status``; False if it was not in ``expected``.

        ``at`` is the update time to write (µs; default now), so a caller that
        knows the order can tell its new state without reading it back.
        """
        return await self.move(order_id, {expected}, status, at=at)

    async def move(
        self,
        order_id: str,
        expected: frozenset[str] | set[str],
        status: str,
        *,
        unpaid_only: bool = False,
        execution: str | None = None,
        at: int | None = None,
    ) -> bool:
        """Moves the order from one of ``expected`` to ``status`` in one conditional write.

        ``unpaid_only`` also requires that no payment is recorded (a cancel must not
        race a payment); ``execution`` records the workflow execution on the way.
        """
        condition = and_(orders.c.order_id == order_id, orders.c.status.in_(sorted(expected)))
        if unpaid_only:
            condition = and_(condition, orders.c.payment_id.is_(None))
        values: dict[str, Any] = {"status": status, "update_time": now_us() if at is None else at}
        if execution is not None:
            values["execution"] = execution
        return await self._update(condition, values)

    async def record_payment(self, order_id: str, payment_id: str) -> bool:
        """The order's payment, once: False if it is paid already or no longer awaits payment."""
        return await self._update(
            and_(
                orders.c.order_id == order_id,
                orders.c.status.in_([PENDING, PENDING_PAYMENT]),
                orders.c.payment_id.is_(None),
            ),
            {"payment_id": payment_id, "update_time": now_us()},
        )

    async def attach_token(self, order_id: str, token: str) -> bool:
        """Keeps the payment wait's task token; False if the order no longer awaits payment."""
        return await self._update(
            and_(orders.c.order_id == order_id, orders.c.status.in_([PENDING, PENDING_PAYMENT])),
            {"task_token": token},
        )

    async def _update(self, condition: Any, values: dict[str, Any]) -> bool:
        """One conditional write; whether it matched the order."""
        async with self.engine.begin() as conn:
            result = await conn.execute(update(orders).where(condition).values(**values))
        return bool(result.rowcount)

    async def overdue(self, *, deadline_before: int, limit: int = 100) -> list[OrderRecord]:
        """Orders still awaiting payment whose deadline passed before ``deadline_before`` (µs)."""
        async with self.reads.connect() as conn:
            ids: list[str] = list(
                (
                    await conn.execute(
                        select(orders.c.order_id)
                        .where(
                            orders.c.status == PENDING_PAYMENT,
                            orders.c.payment_deadline < deadline_before,
                        )
                        .order_by(orders.c.create_time)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            return await self._load(conn, orders.c.order_id.in_(ids), limit)

    async def pending(self, *, created_before: int, limit: int = 100) -> list[OrderRecord]:
        """Pending orders made before ``created_before`` (µs), oldest first."""
        async with self.reads.connect() as conn:
            ids: list[str] = list(
                (
                    await conn.execute(
                        select(orders.c.order_id)
                        .where(orders.c.status == PENDING, orders.c.create_time < created_before)
                        .order_by(orders.c.create_time)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            return await self._load(conn, orders.c.order_id.in_(ids), limit)

    async def delete_pending(self, order_id: str) -> bool:
        """Removes an order that never was (still pending); False if it is not pending."""
        async with self.engine.begin() as conn:
            gone = await conn.execute(
                delete(orders).where(orders.c.order_id == order_id, orders.c.status == PENDING)
            )
            if gone.rowcount:
                await conn.execute(delete(order_lines).where(order_lines.c.order_id == order_id))
        return bool(gone.rowcount)

    async def _load(self, conn: AsyncConnection, condition: Any, limit: int) -> list[OrderRecord]:
        rows = (
            await conn.execute(
                select(orders)
                .where(condition)
                .order_by(orders.c.create_time.desc(), orders.c.order_id.desc())
                .limit(limit)
            )
        ).all()
        if not rows:
            return []
        ids = [r.order_id for r in rows]
        lines: dict[str, list[tuple[str, int, int]]] = {i: [] for i in ids}
        for line in await conn.execute(
            select(order_lines).where(order_lines.c.order_id.in_(ids)).order_by(order_lines.c.sku)
        ):
            lines[line.order_id].append((line.sku, line.quantity, line.unit_price_minor))
        return [
            OrderRecord(
                order_id=r.order_id,
                owner=r.owner,
                request_id=r.request_id,
                fingerprint=r.fingerprint,
                status=r.status,
                reservation_id=r.reservation_id,
                currency_code=r.currency_code,
                total_minor=r.total_minor,
                lines=tuple(lines[r.order_id]),
                create_time=r.create_time,
                update_time=r.update_time,
                payment_deadline=r.payment_deadline,
                payment_id=r.payment_id,
                task_token=r.task_token,
                execution=r.execution,
            )
            for r in rows
        ]
