"""Carts on a versioned key-value store (mesh.kv: Redis, the embedded file locally).

One value per customer, keyed by the verified subject: ``{cart_id, lines, update_time}``.
Every change is a compare-and-set on the value's version (mesh.kv.update), so
two replicas changing one cart at once both land. ``cart_id`` is new for every
cart (after a checkout emptied one, or it expired), so a checkout's request id
(``cart_id`` and version) never repeats across carts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from mesh.kv import KeyValueStore, update
from mesh.timeutil import now_us

__all__ = ["CHECKOUT_TTL_SECONDS", "TTL_SECONDS", "CartRecord", "CartsStore"]

# An untouched cart is forgotten after this long; every change refreshes it.
TTL_SECONDS = 14 * 24 * 3600.0
# How long a checkout's request id answers with its order (a client's retries).
CHECKOUT_TTL_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class CartRecord:
    cart_id: str
    lines: dict[str, int] = field(default_factory=dict)
    version: int = 0
    update_time: int = 0

    def encode(self) -> bytes:
        body = {"cart_id": self.cart_id, "lines": self.lines, "update_time": self.update_time}
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes, version: int) -> CartRecord:
        body = json.loads(raw)
        return cls(body["cart_id"], dict(body["lines"]), version, int(body["update_time"]))


def _key(owner: str) -> str:
    return "cart:" + quote(owner, safe="")


def _checkout_key(owner: str, request_id: str) -> str:
    return f"checkout:{quote(owner, safe='')}:{request_id}"


class CartsStore:
    def __init__(
        self,
        kv: KeyValueStore,
        *,
        ttl: float = TTL_SECONDS,
        checkout_ttl: float = CHECKOUT_TTL_SECONDS,
    ) -> None:
        self.kv = kv
        self.ttl = ttl
        self.checkout_ttl = checkout_ttl

    async def checkout_of(self, owner: str, request_id: str) -> str | None:
        """The order a checkout with this request id placed, if one did (within the TTL)."""
        found = await self.kv.get(_checkout_key(owner, request_id))
        return found.value.decode() if found is not None else None

    async def claim_checkout(self, owner: str, request_id: str, order: str) -> bool:
        """Remember the checkout's order; False when a twin of this request did first."""
        written = await self.kv.put(
            _checkout_key(owner, request_id), order.encode(), expect=0, ttl=self.checkout_ttl
        )
        return written is not None

    async def get(self, owner: str) -> CartRecord:
        found = await self.kv.get(_key(owner))
        if found is None:
            return CartRecord(cart_id="")
        return CartRecord.decode(found.value, found.version)

    async def change(
        self, owner: str, edit: Callable[[dict[str, int]], dict[str, int]]
    ) -> CartRecord:
        """Apply ``edit`` to the lines (retried on a concurrent write); an empty cart is deleted."""

        def step(raw: bytes | None) -> bytes | None:
            current = CartRecord.decode(raw, 0) if raw else CartRecord(uuid.uuid4().hex)
            lines = edit(dict(current.lines))
            if not lines:
                return None
            return CartRecord(current.cart_id, lines, 0, now_us()).encode()

        raw, version = await update(self.kv, _key(owner), step, ttl=self.ttl)
        return CartRecord.decode(raw, version) if raw else CartRecord(cart_id="")
