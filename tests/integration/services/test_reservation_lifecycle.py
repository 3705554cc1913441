"""Reservations lapse unless committed; the sweeper releases each exactly once,
however many inventory replicas sweep one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection

from mesh.db import Database, _alembic_config
from mesh.service import migrations_dir
from mesh.timeutil import now_us
from services.inventory import app as inventory_app
from services.inventory.models import reservation_lines, reservations, stock
from services.inventory.store import ACTIVE, COMMITTED, RELEASED, InventoryStore
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc
from tests.support.mesh import db_url_for, reset, serve
from tests.support.postgres import drop, fresh_database
from tests.support.waiting import until

LATER = now_us() + 10**12  # a "now" after every TTL of these tests


@pytest.fixture
async def database(db_kind: str, tmp_path: Path, pg_url: str | None) -> AsyncIterator[Database]:
    db = Database(
        db_url_for(db_kind, tmp_path, "inventory", pg_url),
        "inventory",
        migrations_dir(inventory_app.__file__),
    )
    await db.start()
    await reset(db, "inventory")
    yield db
    await db.stop()


async def states(db: Database) -> dict[str, str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(reservations.c.reservation_id, reservations.c.state))
        return {r.reservation_id: r.state for r in rows}


async def test_two_replicas_sweeping_at_once_release_each_reservation_once(
    database: Database,
) -> None:
    # A second engine on the same database: another replica, its own connections.
    other = Database(database.url, "inventory", database.migrations, auto_migrate=False)
    replicas = [InventoryStore(database.engine), InventoryStore(other.engine)]
    try:
        await replicas[0].set_stock("mug", 1000)
        for i in range(60):
            await replicas[i % 2].reserve(f"r{i}", [("mug", 3)])
        await replicas[0].commit("r0")  # committed before it lapsed: not the sweeper's
        assert (await replicas[0].get_stock("mug")).reserved == 177
        # Each replica sweeps in small batches, concurrently with the other, as
        # the Sweeper does: batch after batch until one releases nothing.

        async def sweep_all(store: InventoryStore) -> int:
            total = 0
            while released := await store.sweep(now=LATER, limit=7):
                total += released
            return total

        counts = await asyncio.gather(*(sweep_all(s) for s in replicas for _ in range(3)))
        # Both may stop while the other still works; a last pass takes any rest.
        counts.append(await sweep_all(replicas[0]))
        assert sum(counts) == 59  # every lapsed one, each by exactly one sweep
        after = await replicas[1].get_stock("mug")
        # A double release would have pushed reserved below 0 (the CHECK refuses it)
        # or handed out stock twice.
        assert (after.on_hand, after.reserved) == (997, 0)
        found = await states(database)
        assert found.pop("r0") == COMMITTED
        assert set(found.values()) == {RELEASED}
    finally:
        await other.stop()


async def test_a_reservation_holds_until_its_ttl_and_commit_beats_the_lapse(
    database: Database,
) -> None:
    store = InventoryStore(database.engine, reservation_ttl=60)
    await store.set_stock("mug", 10)
    held = await store.reserve("held", [("mug", 2)])
    assert held.expire_time is not None
    assert held.expire_time - held.create_time == 60_000_000
    assert await store.sweep(now=held.expire_time - 1) == 0  # not yet
    await store.commit("held")
    assert await store.sweep(now=LATER) == 0
    assert await store.commit("held") == await store.commit("held")  # idempotent
    now = await store.get_stock("mug")
    assert (now.on_hand, now.reserved) == (8, 0)
    # Returned once, however often it is asked.
    for _ in range(2):
        assert (await store.return_stock("held")).state == "RETURNED"
    back = await store.get_stock("mug")
    assert (back.on_hand, back.reserved) == (10, 0)


async def test_the_service_releases_lapsed_reservations_by_itself(
    db_kind: str, tmp_path: Path, pg_url: str | None
) -> None:
    env = {"MESH_RESERVATION_TTL_SECONDS": "0.3", "MESH_RESERVATION_SWEEP_SECONDS": "0.05"}
    async with serve(
        "inventory", db_url_for(db_kind, tmp_path, "inventory", pg_url), env=env
    ) as inventory:
        stub = inventory_pb2_grpc.InventoryServiceStub(inventory.channel)
        await stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=5))
        reply = await stub.ReserveStock(
            pb.ReserveStockRequest(
                reservation_id="lapses", lines=[pb.ReservationLine(sku="mug", quantity=4)]
            )
        )
        assert reply.reservation.expire_time.ToMicroseconds() > 0

        async def available() -> bool:
            found = (await stub.GetStock(pb.GetStockRequest(name="stocks/mug"))).stock
            return found.available == 5

        await until(available, what="the lapsed reservation's stock to come back")
        assert (await states(inventory.database))["lapses"] == RELEASED


async def test_reservations_from_before_expiry_never_lapse(
    db_kind: str, tmp_path: Path, pg_url: str | None
) -> None:
    """Migration 0002 on a database holding an active reservation of a confirmed order."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        if db_kind == "sqlite"
        else await fresh_database()
    )
    assert url is not None
    db = Database(url, "inventory", migrations_dir(inventory_app.__file__), auto_migrate=False)
    try:
        await db.start()
        cfg = _alembic_config("inventory", db.migrations)

        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: _upgrade(cfg, c, "0001"))
            now = now_us()
            await conn.execute(
                insert(stock).values(sku="mug", on_hand=5, reserved=2, update_time=now)
            )
            await conn.execute(
                insert(reservations).values(
                    reservation_id="old", state=ACTIVE, create_time=now, update_time=now
                )
            )
            await conn.execute(
                insert(reservation_lines).values(reservation_id="old", sku="mug", quantity=2)
            )
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: _upgrade(cfg, c, "head"))
            version = await conn.scalar(text("SELECT version_num FROM alembic_version_inventory"))
        assert version == "0002"
        store = InventoryStore(db.engine)
        assert await store.sweep(now=LATER) == 0
        assert (await store.get_stock("mug")).reserved == 2
        # Cancelling its order still gives the stock back: the hold is let go.
        assert (await store.return_stock("old")).state == RELEASED
        assert (await store.get_stock("mug")).reserved == 0
    finally:
        await db.stop()
        if db_kind == "postgres":
            await drop(url)


def _upgrade(cfg: Config, connection: Connection, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
