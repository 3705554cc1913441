"""Inventory persistence. Every stock change is one conditional UPDATE, so the
database decides atomically whether enough is available: concurrent
reservations can never oversell, on PostgreSQL or SQLite.

A reservation's life, each arrow one conditional UPDATE of its state in the
same transaction as the stock change it implies (so whoever flips the state
owns the change, and nobody does it twice, however many replicas race)::

    ACTIVE ──commit──> COMMITTED ──return──> RETURNED
       │  reserved -= q,          on_hand += q
       │  on_hand -= q
       └──release, or lapse (expire_time passed, the sweeper)──> RELEASED
          reserved -= q
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.db import reader
from mesh.errors import AlreadyExists, FailedPrecondition, NotFound
from mesh.timeutil import now_us
from services.inventory.models import reservation_lines, reservations, stock

__all__ = [
    "ACTIVE",
    "COMMITTED",
    "RELEASED",
    "RETURNED",
    "InventoryStore",
    "ReservationRecord",
    "StockRecord",
]

ACTIVE, RELEASED, COMMITTED, RETURNED = "ACTIVE", "RELEASED", "COMMITTED", "RETURNED"
# (from, to) -> how each line's quantity moves the stock row.
_MOVES: dict[tuple[str, str], dict[str, int]] = {
    (ACTIVE, RELEASED): {"reserved": -1},
    (ACTIVE, COMMITTED): {"reserved": -1, "on_hand": -1},
    (COMMITTED, RETURNED): {"on_hand": +1},
}


@dataclass(frozen=True, slots=True)
class StockRecord:
    sku: str
    on_hand: int
    reserved: int
    update_time: int


@dataclass(frozen=True, slots=True)
class ReservationRecord:
    reservation_id: str
    state: str
    lines: tuple[tuple[str, int], ...]  # (sku, quantity), sorted by sku
    create_time: int
    expire_time: int | None = None


def _stock_not_found(sku: str) -> NotFound:
    return NotFound(
        f"no stock record for sku {sku!r}", reason="STOCK_NOT_FOUND", metadata={"sku": sku}
    )


class InventoryStore:
    """Stock and reservations; a reservation holds its stock for ``reservation_ttl`` seconds."""

    def __init__(self, engine: AsyncEngine, *, reservation_ttl: float = 300.0) -> None:
        self.engine = engine
        self.reads = reader(engine)
        self.reservation_ttl_us = int(reservation_ttl * 1_000_000)

    async def get_stock(self, sku: str) -> StockRecord:
        async with self.reads.connect() as conn:
            return await self._stock(conn, sku)

    async def _stock(self, conn: AsyncConnection, sku: str) -> StockRecord:
        row = (await conn.execute(select(stock).where(stock.c.sku == sku))).first()
        if row is None:
            raise _stock_not_found(sku)
        return StockRecord(**row._mapping)

    async def set_stock(self, sku: str, on_hand: int) -> StockRecord:
        now = now_us()
        guarded = (
            update(stock)
            .where(stock.c.sku == sku, stock.c.reserved <= on_hand)
            .values(on_hand=on_hand, update_time=now)
        )
        async with self.engine.begin() as conn:
            if (await conn.execute(guarded)).rowcount == 0:
                current = (await conn.execute(select(stock).where(stock.c.sku == sku))).first()
                if current is not None:
                    raise _below_reserved(sku, current.reserved)
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            insert(stock).values(
                                sku=sku, on_hand=on_hand, reserved=0, update_time=now
                            )
                        )
                except IntegrityError:
                    # Created concurrently (PostgreSQL): the row is visible now, set it.
                    if (await conn.execute(guarded)).rowcount == 0:
                        raise _below_reserved(
                            sku, (await self._stock(conn, sku)).reserved
                        ) from None
            return await self._stock(conn, sku)

    async def adjust_stock(self, sku: str, delta: int) -> StockRecord:
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(stock)
                .where(stock.c.sku == sku, stock.c.on_hand + delta >= stock.c.reserved)
                .values(on_hand=stock.c.on_hand + delta, update_time=now_us())
            )
            if changed.rowcount == 0:
                current = await self._stock(conn, sku)
                raise _below_reserved(sku, current.reserved)
            return await self._stock(conn, sku)

    async def reserve(
        self, reservation_id: str, lines: Sequence[tuple[str, int]], ttl: float | None = None
    ) -> ReservationRecord:
        """All lines or none; the same id with the same lines returns the existing reservation.

        ``ttl`` (seconds) overrides the store's for this reservation (an order awaiting payment).
        """
        lines = tuple(sorted(lines))
        now = now_us()
        expires = now + (int(ttl * 1_000_000) if ttl is not None else self.reservation_ttl_us)
        try:
            async with self.engine.begin() as conn:
                # A repeated id fails this insert (the unique key) and is answered below,
                # so a new reservation does not pay a read first.
                await conn.execute(
                    insert(reservations).values(
                        reservation_id=reservation_id,
                        state=ACTIVE,
                        create_time=now,
                        update_time=now,
                        expire_time=expires,
                    )
                )
                short = await _take(conn, lines, now)
                if short is not None:
                    sku, quantity = short
                    current = await self._stock(conn, sku)  # NotFound if unknown
                    raise FailedPrecondition(
                        f"insufficient stock for {sku!r}: {quantity} requested, "
                        f"{current.on_hand - current.reserved} available",
                        reason="INSUFFICIENT_STOCK",
                        metadata={
                            "sku": sku,
                            "requested": str(quantity),
                            "available": str(current.on_hand - current.reserved),
                        },
                    )
                await conn.execute(
                    insert(reservation_lines),
                    [{"reservation_id": reservation_id, "sku": s, "quantity": q} for s, q in lines],
                )
        except IntegrityError:
            # The id exists (a repeat, or a concurrent twin): answer as a repeat would.
            async with self.reads.connect() as conn:
                existing = await self._reservation(conn, reservation_id)
            if existing is None:
                raise
            return _same_or_conflict(existing, lines)
        return ReservationRecord(reservation_id, ACTIVE, lines, now, expires)

    async def release(self, reservation_id: str) -> ReservationRecord:
        return _moved(await self._finish(reservation_id, ACTIVE, RELEASED))

    async def commit(self, reservation_id: str) -> ReservationRecord:
        return _moved(await self._finish(reservation_id, ACTIVE, COMMITTED))

    async def return_stock(self, reservation_id: str) -> ReservationRecord:
        """A committed reservation's stock back on hand; an active one is released instead.

        Idempotent: a reservation whose stock is back already (returned, or
        released) is answered as it is.
        """
        try:
            return _moved(await self._finish(reservation_id, COMMITTED, RETURNED))
        except FailedPrecondition as exc:
            state = exc.metadata.get("state")
            if state not in (ACTIVE, RELEASED):
                raise
        # Never committed (an order from before commits existed): its stock is
        # only held, so letting go of the hold returns it.
        return _moved(await self._finish(reservation_id, ACTIVE, RELEASED))

    async def sweep(self, *, now: int | None = None, limit: int = 100) -> int:
        """Release up to ``limit`` active reservations past their expire time.

        Returns how many this call released. Several replicas may sweep one
        database at once: each release is the conditional flip of
        :meth:`_finish`, so a reservation is released by exactly one of them,
        and one committed meanwhile is left alone.
        """
        now = now_us() if now is None else now
        async with self.reads.connect() as conn:
            due: list[str] = list(
                (
                    await conn.execute(
                        select(reservations.c.reservation_id)
                        .where(
                            reservations.c.state == ACTIVE,
                            reservations.c.expire_time.is_not(None),
                            reservations.c.expire_time <= now,
                        )
                        .order_by(reservations.c.expire_time)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        released = 0
        for reservation_id in due:
            if await self._finish(reservation_id, ACTIVE, RELEASED, lapsed_by=now, quiet=True):
                released += 1
        return released

    async def _finish(
        self,
        reservation_id: str,
        source: str,
        target: str,
        *,
        lapsed_by: int | None = None,
        quiet: bool = False,
    ) -> ReservationRecord | None:
        """Move a reservation from ``source`` to ``target`` and its stock with it.

        Repeating a finished move returns the record. With ``quiet`` (the
        sweeper) a reservation someone else moved first is None, not an error.
        """
        now = now_us()
        condition = [
            reservations.c.reservation_id == reservation_id,
            reservations.c.state == source,
        ]
        if lapsed_by is not None:
            condition.append(reservations.c.expire_time <= lapsed_by)
        async with self.engine.begin() as conn:
            # Whoever flips the state owns the stock change: a concurrent repeat
            # sees no row (PostgreSQL re-checks the WHERE after the row lock;
            # SQLite's BEGIN IMMEDIATE runs writers one at a time).
            flipped = (
                await conn.execute(
                    update(reservations)
                    .where(*condition)
                    .values(state=target, update_time=now)
                    .returning(reservations.c.create_time, reservations.c.expire_time)
                )
            ).first()
            if flipped is None:
                if quiet:
                    return None
                record = await self._reservation(conn, reservation_id)
                if record is None:
                    raise NotFound(
                        f"reservation {reservation_id!r} not found",
                        reason="RESERVATION_NOT_FOUND",
                        metadata={"reservation_id": reservation_id},
                    )
                if record.state != target:
                    raise FailedPrecondition(
                        f"reservation {reservation_id!r} is {record.state.lower()}",
                        reason=f"RESERVATION_{record.state}",
                        metadata={"reservation_id": reservation_id, "state": record.state},
                    )
                return record
            record = ReservationRecord(
                reservation_id,
                target,
                await _lines(conn, reservation_id),
                flipped.create_time,
                flipped.expire_time,
            )
            await _move(conn, record.lines, _MOVES[source, target], now)
            return record

    async def _reservation(
        self, conn: AsyncConnection, reservation_id: str
    ) -> ReservationRecord | None:
        row = (
            await conn.execute(
                select(reservations).where(reservations.c.reservation_id == reservation_id)
            )
        ).first()
        if row is None:
            return None
        return ReservationRecord(
            reservation_id,
            row.state,
            await _lines(conn, reservation_id),
            row.create_time,
            row.expire_time,
        )


async def _lines(conn: AsyncConnection, reservation_id: str) -> tuple[tuple[str, int], ...]:
    rows = (
        await conn.execute(
            select(reservation_lines.c.sku, reservation_lines.c.quantity)
            .where(reservation_lines.c.reservation_id == reservation_id)
            .order_by(reservation_lines.c.sku)
        )
    ).all()
    return tuple((str(line.sku), int(line.quantity)) for line in rows)


async def _lock(conn: AsyncConnection, lines: Sequence[tuple[str, int]]) -> None:
    """Lock the lines' stock rows in sku order before one statement updates them all.

    An UPDATE of several rows locks them in whatever order its plan visits them;
    two of them crossing would deadlock. Taken in sku order first (as the one
    UPDATE per line used to), concurrent reservations queue instead. SQLite
    needs none: its writers run one at a time.
    """
    if len(lines) > 1 and conn.dialect.name == "postgresql":
        await conn.execute(
            select(stock.c.sku)
            .where(stock.c.sku.in_([sku for sku, _ in lines]))
            .order_by(stock.c.sku)
            .with_for_update()
        )


def _per_line(lines: Sequence[tuple[str, int]]) -> Any:
    """Each row's own quantity, in one statement (a single line needs no CASE)."""
    if len(lines) == 1:
        return lines[0][1]
    return case(dict(lines), value=stock.c.sku)


async def _take(
    conn: AsyncConnection, lines: Sequence[tuple[str, int]], now: int
) -> tuple[str, int] | None:
    """Reserve every line in one conditional UPDATE; the first line that could not be
    (sorted by sku), if any. The caller's transaction then rolls back the others."""
    await _lock(conn, lines)
    wanted = _per_line(lines)
    taken = await conn.execute(
        update(stock)
        .where(
            stock.c.sku.in_([sku for sku, _ in lines]),
            stock.c.on_hand - stock.c.reserved >= wanted,
        )
        .values(reserved=stock.c.reserved + wanted, update_time=now)
        .returning(stock.c.sku)
    )
    done = set(taken.scalars().all())
    return next(((s, q) for s, q in lines if s not in done), None)


async def _move(
    conn: AsyncConnection, lines: Sequence[tuple[str, int]], signs: dict[str, int], now: int
) -> None:
    """Move every line's quantity on its stock row (columns by sign), in one UPDATE."""
    await _lock(conn, lines)
    per_line = _per_line(lines)
    values: dict[str, Any] = {"update_time": now}
    for column, sign in signs.items():
        values[column] = stock.c[column] + sign * per_line
    await conn.execute(
        update(stock).where(stock.c.sku.in_([sku for sku, _ in lines])).values(**values)
    )


def _moved(record: ReservationRecord | None) -> ReservationRecord:
    # Only a quiet move (the sweeper's) answers None.
    if record is None:
        raise RuntimeError("a reservation move reported nothing")
    return record


def _same_or_conflict(
    existing: ReservationRecord, lines: tuple[tuple[str, int], ...]
) -> ReservationRecord:
    if existing.lines != lines:
        raise AlreadyExists(
            f"reservation {existing.reservation_id!r} exists with other lines",
            reason="RESERVATION_ID_REUSED",
            metadata={"reservation_id": existing.reservation_id},
        )
    return existing


def _below_reserved(sku: str, reserved: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"on_hand of {sku!r} may not fall below the {reserved} units reserved",
        reason="BELOW_RESERVED",
        metadata={"sku": sku, "reserved": str(reserved)},
    )
