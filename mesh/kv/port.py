"""The port: get, compare-and-set put, compare-and-set delete, and the retry loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mesh.errors import Aborted

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["MAX_ATTEMPTS", "Conflict", "KeyValueStore", "Versioned", "update"]

# Enough for a handful of replicas writing one key at once; beyond that the
# caller hears ABORTED and may retry the whole call.
MAX_ATTEMPTS = 32


@dataclass(frozen=True, slots=True)
class Versioned:
    """A value and its version (1 on creation, +1 on every write)."""

    value: bytes
    version: int


class Conflict(Aborted):
    """Another writer kept winning: the read-modify-write gave up."""


class KeyValueStore(Protocol):
    """A store of versioned values with a time to live, refreshed on every write."""

    # What it is, for the start-up log line ("redis at redis://127.0.0.1:6379/0").
    description: str

    async def get(self, key: str) -> Versioned | None: ...

    async def put(self, key: str, value: bytes, *, expect: int, ttl: float) -> int | None:
        """Write if the current version is ``expect`` (0: absent); the new version, or None."""
        ...

    async def delete(self, key: str, *, expect: int) -> bool:
        """Delete if the current version is ``expect``; False when it is not."""
        ...

    async def start(self, server: MeshServer | None = None) -> None: ...

    async def stop(self) -> None: ...


async def update(
    store: KeyValueStore,
    key: str,
    change: Callable[[bytes | None], Awaitable[bytes | None] | bytes | None],
    *,
    ttl: float,
) -> tuple[bytes | None, int]:
    """Read, ``change`` the value (None: absent / delete it), write back unless someone
    wrote in between, and retry from the read if they did.

    Returns the value written and its version (``(None, 0)`` after a delete).
    ``change`` may be called several times and must not have side effects.
    """
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            # Jittered backoff, so writers that collided do not collide again in step.
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        found = await store.get(key)
        current = found.value if found else None
        expect = found.version if found else 0
        new = change(current)
        if not isinstance(new, bytes | None):
            new = await new
        if new is None:
            if found is None or await store.delete(key, expect=expect):
                return None, 0
            continue
        version = await store.put(key, new, expect=expect, ttl=ttl)
        if version is not None:
            return new, version
    raise Conflict(
        f"{key!r} kept changing under {MAX_ATTEMPTS} attempts; try again",
        reason="CONCURRENT_UPDATE",
        metadata={"attempts": str(MAX_ATTEMPTS)},
    )
