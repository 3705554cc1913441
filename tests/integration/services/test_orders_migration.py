"""Migration 0002 on a database that already holds orders (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mesh.db import create_engine, ensure_database, migrate
from mesh.service import migrations_dir
from services.orders import app as orders_app
from services.orders.store import OrdersStore
from tests.support.postgres import create_database, drop_database

MIGRATIONS = migrations_dir(orders_app.__file__)
OLD_ROW = (
    "INSERT INTO orders (order_id, request_id, fingerprint, status, reservation_id,"
    " currency_code, total_minor, create_time, update_time)"
    " VALUES (:id, :rid, 'f', 'CONFIRMED', 'ord-x', 'EUR', 100, 1, 1)"
)


@pytest.fixture
def url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
        return
    fresh = create_database()  # its own database: the shared one is at head already
    assert fresh is not None
    yield fresh
    drop_database(fresh)


async def test_existing_orders_get_no_owner_and_request_ids_become_per_owner(url: str) -> None:
    await ensure_database(url)
    engine = create_engine(url)
    try:
        await migrate(engine, "orders", MIGRATIONS, "0001")
        async with engine.begin() as conn:
            await conn.execute(text(OLD_ROW), {"id": "a" * 32, "rid": "r1"})
        await migrate(engine, "orders", MIGRATIONS)
        store = OrdersStore(engine)
        old = await store.get("a" * 32)
        # Nobody who signs in owns it: only admins and the mesh see it.
        assert old.owner == ""
        assert await store.by_request_id("", "r1") == old
        assert await store.by_request_id("alice", "r1") is None
        insert = OLD_ROW.replace("(order_id,", "(owner, order_id,").replace(
            "VALUES (:id", "VALUES (:owner, :id"
        )
        async with engine.begin() as conn:
            # The same key for another owner is a new order...
            await conn.execute(text(insert), {"owner": "alice", "id": "b" * 32, "rid": "r1"})
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                # ...and twice for one owner is refused by the database itself.
                await conn.execute(text(insert), {"owner": "alice", "id": "c" * 32, "rid": "r1"})
    finally:
        await engine.dispose()
