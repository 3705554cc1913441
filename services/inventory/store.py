"""Inventory persistence. Every stock change is one conditional UPDATE, so the
database decides atomically whether enough is available: concurrent
reservations can never oversell, on PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.errors import AlreadyExists, FailedPrecondition, NotFound
from mesh.timeutil import now_us
from services.inventory.models import reservation_lines, reservations, stock

__all__ = ["ACTIVE", "COMMITTED", "RELEASED", "InventoryStore", "ReservationRecord", "StockRecord"]

ACTIVE, RELEASED, COMMITTED = "ACTIVE", "RELEASED", "COMMITTED"


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


def _stock_not_found(sku: str) -> NotFound:
    return NotFound(
        f"no stock record for sku {sku!r}", reason="STOCK_NOT_FOUND", metadata={"sku": sku}
    )


class InventoryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get_stock(self, sku: str) -> StockRecord:
        async with self.engine.connect() as conn:
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
        self, reservation_id: str, lines: Sequence[tuple[str, int]]
    ) -> ReservationRecord:
        """All lines or none; the same id with the same lines returns the existing reservation."""
        lines = tuple(sorted(lines))
        now = now_us()
        try:
            async with self.engine.begin() as conn:
                existing = await self._reservation(conn, reservation_id)
                if existing is not None:
                    return _same_or_conflict(existing, lines)
                await conn.execute(
                    insert(reservations).values(
                        reservation_id=reservation_id,
                        state=ACTIVE,
                        create_time=now,
                        update_time=now,
                    )
                )
                # Sorted by sku, so concurrent reservations lock rows in one order (no deadlock).
                for sku, quantity in lines:
                    taken = await conn.execute(
                        update(stock)
                        .where(stock.c.sku == sku, stock.c.on_hand - stock.c.reserved >= quantity)
                        .values(reserved=stock.c.reserved + quantity, update_time=now)
                    )
                    if taken.rowcount == 0:
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
            # The same id was inserted concurrently; answer as a repeat would.
            async with self.engine.connect() as conn:
                existing = await self._reservation(conn, reservation_id)
            if existing is None:
                raise
            return _same_or_conflict(existing, lines)
        return ReservationRecord(reservation_id, ACTIVE, lines, now)

    async def release(self, reservation_id: str) -> ReservationRecord:
        return await self._finish(reservation_id, RELEASED)

    async def commit(self, reservation_id: str) -> ReservationRecord:
        return await self._finish(reservation_id, COMMITTED)

    async def _finish(self, reservation_id: str, target: str) -> ReservationRecord:
        now = now_us()
        async with self.engine.begin() as conn:
            # Whoever flips the state owns the stock change: a concurrent repeat sees rowcount 0.
            flipped = await conn.execute(
                update(reservations)
                .where(
                    reservations.c.reservation_id == reservation_id, reservations.c.state == ACTIVE
                )
                .values(state=target, update_time=now)
            )
            record = await self._reservation(conn, reservation_id)
            if record is None:
                raise NotFound(
                    f"reservation {reservation_id!r} not found",
                    reason="RESERVATION_NOT_FOUND",
                    metadata={"reservation_id": reservation_id},
                )
            if flipped.rowcount == 0:
                if record.state != target:
                    raise FailedPrecondition(
                        f"reservation {reservation_id!r} is {record.state.lower()}",
                        reason=f"RESERVATION_{record.state}",
                        metadata={"reservation_id": reservation_id, "state": record.state},
                    )
                return record
            for sku, quantity in record.lines:
                values: dict[str, Any] = {
                    "reserved": stock.c.reserved - quantity,
                    "update_time": now,
                }
                if target == COMMITTED:
                    values["on_hand"] = stock.c.on_hand - quantity
                await conn.execute(update(stock).where(stock.c.sku == sku).values(**values))
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
        lines = (
            await conn.execute(
                select(reservation_lines.c.sku, reservation_lines.c.quantity)
                .where(reservation_lines.c.reservation_id == reservation_id)
                .order_by(reservation_lines.c.sku)
            )
        ).all()
        return ReservationRecord(
            reservation_id,
            row.state,
            tuple((str(line.sku), int(line.quantity)) for line in lines),
            row.create_time,
        )


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
