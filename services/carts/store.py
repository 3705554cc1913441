"""Carts persistence on a versioned key-value store (mesh.kv: redis, embedded locally)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Protocol

from mesh.errors import AlreadyExists, NotFound
from mesh.kv import KeyValueStore
from mesh.timeutil import now_us

__all__ = ["CartRecord", "CartsStore", "KvCartsStore"]

# How long an untouched cart is kept; every write refreshes it.
TTL_SECONDS = 30 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class CartRecord:
    id: str
    display_name: str
    create_time: int = 0


class CartsStore(Protocol):
    """The port the servicer uses; adapters below."""

    async def create(self, record: CartRecord) -> CartRecord: ...

    async def get(self, key: str) -> CartRecord: ...

    async def delete(self, key: str) -> None: ...


def _not_found(key: str) -> NotFound:
    return NotFound(
        f"cart {key!r} not found", reason="CART_NOT_FOUND", metadata={"id": key}
    )


def _exists(key: str) -> AlreadyExists:
    return AlreadyExists(
        f"cart {key!r} already exists", reason="CART_EXISTS", metadata={"id": key}
    )


class KvCartsStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    async def create(self, record: CartRecord) -> CartRecord:
        record = replace(record, create_time=now_us())
        value = json.dumps(asdict(record)).encode()
        if await self.kv.put(f"cart:{record.id}", value, expect=0, ttl=TTL_SECONDS) is None:
            raise _exists(record.id)
        return record

    async def get(self, key: str) -> CartRecord:
        found = await self.kv.get(f"cart:{key}")
        if found is None:
            raise _not_found(key)
        return CartRecord(**json.loads(found.value))

    async def delete(self, key: str) -> None:
        found = await self.kv.get(f"cart:{key}")
        if found is None or not await self.kv.delete(f"cart:{key}", expect=found.version):
            raise _not_found(key)
