"""A pooled PostgreSQL connection the server ended is replaced before anyone uses it.

By default (:func:`mesh.db.replace_closed`) the pool asks the driver whether
the connection is closed, which costs no round trip; ``pre_ping`` brings back
SQLAlchemy's round-trip ping. Both must hand out a working connection after the
server terminated the pooled one, and the default must not talk to the
server to find out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import create_engine, reader

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(pg_url: str | None) -> str:
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    return pg_url


async def pooled(engine: AsyncEngine) -> tuple[int, Any]:
    """The backend pid and driver connection of the connection the pool hands out (and keeps)."""
    async with reader(engine).connect() as conn:
        pid: int = await conn.scalar(text("SELECT pg_backend_pid()"))
        driver = (await conn.get_raw_connection()).driver_connection
    return pid, driver


async def terminate(url: str, pid: int) -> None:
    admin = create_engine(url)
    try:
        async with reader(admin).connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


@pytest.mark.parametrize("pre_ping", [False, True], ids=["closed-check", "pre-ping"])
async def test_a_connection_the_server_ended_is_replaced_at_checkout(
    url: str, pre_ping: bool
) -> None:
    engine = create_engine(url, pre_ping=pre_ping)
    try:
        first, driver = await pooled(engine)
        # The driver's own signal that the server's end of the connection reached it.
        closed = asyncio.Event()
        driver.add_termination_listener(lambda _conn: closed.set())
        await terminate(url, first)
        await asyncio.wait_for(closed.wait(), timeout=10)
        assert driver.is_closed()
        # No error reaches the caller: the dead connection is swapped for a new one.
        second, _ = await pooled(engine)
        assert second != first
    finally:
        await engine.dispose()


async def queries_on_the_pooled_connection(engine: AsyncEngine, checkouts: int) -> list[str]:
    """Simple-protocol queries the driver sends on the pool's one connection over
    ``checkouts`` checkouts: the pre-ping's BEGIN, ``;`` and ROLLBACK are, SQLAlchemy's
    prepared statements are not (asyncpg's query logger sees only the former)."""
    sent: list[str] = []
    _, driver = await pooled(engine)
    driver.add_query_logger(lambda record: sent.append(record.query.strip()))
    for _ in range(checkouts):
        await pooled(engine)
    return sent


async def test_the_default_check_costs_no_round_trip(url: str) -> None:
    engine, pinged = create_engine(url), create_engine(url, pre_ping=True)
    try:
        sent = await queries_on_the_pooled_connection(engine, 3)
        sent_pinged = await queries_on_the_pooled_connection(pinged, 3)
        # The switch back really pings, once per checkout, and the logger sees it...
        assert sent_pinged.count(";") == 3, sent_pinged
        # ...so the default's silence means no ping.
        assert sent == [], sent
    finally:
        await engine.dispose()
        await pinged.dispose()
