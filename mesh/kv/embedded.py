"""The embedded adapter: the same semantics in a SQLite file, for running with nothing installed.

Replicas on one machine share the file (WAL, writers serialized by ``BEGIN
IMMEDIATE``), so they see one another's writes as they would through Redis.
Expired keys read as absent and are purged as they are met.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from mesh.db import create_engine
from mesh.kv.port import Versioned

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["EmbeddedStore"]

_TABLE = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL
)
"""


class EmbeddedStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"embedded SQLite file {path}"
        self.engine = create_engine(f"sqlite+aiosqlite:///{path}")

    async def get(self, key: str) -> Versioned | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT version, value FROM kv WHERE key = :k AND expires > :now"),
                    {"k": key, "now": time.time()},
                )
            ).first()
        return None if row is None else Versioned(bytes(row.value), int(row.version))

    async def _current(self, conn: AsyncConnection, key: str) -> int:
        row = (
            await conn.execute(text("SELECT version, expires FROM kv WHERE key = :k"), {"k": key})
        ).first()
        if row is None:
            return 0
        if row.expires <= time.time():
            await conn.execute(text("DELETE FROM kv WHERE key = :k"), {"k": key})
            return 0
        return int(row.version)

    async def put(self, key: str, value: bytes, *, expect: int, ttl: float) -> int | None:
        async with self.engine.begin() as conn:
            current = await self._current(conn, key)
            if current != expect:
                return None
            version = current + 1
            await conn.execute(
                text(
                    "INSERT INTO kv (key, version, value, expires) VALUES (:k, :v, :d, :e) "
                    "ON CONFLICT (key) DO UPDATE SET version = :v, value = :d, expires = :e"
                ),
                {"k": key, "v": version, "d": value, "e": time.time() + ttl},
            )
        return version

    async def delete(self, key: str, *, expect: int) -> bool:
        async with self.engine.begin() as conn:
            if await self._current(conn, key) != expect:
                return False
            await conn.execute(text("DELETE FROM kv WHERE key = :k"), {"k": key})
        return True

    async def start(self, server: MeshServer | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(_TABLE))

    async def stop(self) -> None:
        await self.engine.dispose()
