"""The embedded SQLite engine (mesh.db) as the local mesh's replicas share it:
writers take the lock at BEGIN, reads never wait for a writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import create_engine, reader


async def test_a_read_does_not_wait_for_a_writer_and_sees_the_last_commit(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    writer, other = create_engine(url), create_engine(url)  # two replicas' engines
    try:
        async with writer.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with writer.begin() as conn:
            await conn.execute(text("UPDATE t SET v = 2"))
            # The write lock is held (BEGIN IMMEDIATE): the other engine's read still
            # answers at once, with the committed value, not after the busy timeout.
            async with reader(other).connect() as read:
                seen = await asyncio.wait_for(read.scalar(text("SELECT v FROM t")), timeout=5)
            assert seen == 1
            # A write of the other engine waits its turn instead.
            # A negative: no signal says "still waiting", so the write is given a
            # window in which it must not finish while the lock is held.
            blocked = asyncio.create_task(_write(other, 3))
            finished, _ = await asyncio.wait({blocked}, timeout=0.3)
            assert not finished
        await asyncio.wait_for(blocked, timeout=10)
        async with reader(other).connect() as read:
            assert await read.scalar(text("SELECT v FROM t")) == 3
    finally:
        await writer.dispose()
        await other.dispose()


async def _write(engine: AsyncEngine, value: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE t SET v = :v"), {"v": value})


async def test_commits_are_in_wal_mode_without_an_fsync_each(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA synchronous")) == 1  # NORMAL
    finally:
        await engine.dispose()
