"""Versioned key-value stores: the port behind ``store: redis`` (and the scaffold's
``store: dynamodb``), with one contract suite for every adapter.

    store = open_store(settings)        # Redis, the embedded SQLite file, or DynamoDB
    found = await store.get("cart:alice")
    version = await store.put("cart:alice", b"...", expect=found.version if found else 0, ttl=3600)
    if version is None: ...             # someone else wrote first: read again and retry

Every write is a compare-and-set on the version (0: the key must not exist), so
two replicas updating one key never lose each other's change; :func:`update`
is the read-modify-write loop on top. A store that cannot be reached raises
:class:`~mesh.errors.Unavailable` naming the dependency, and no write is ever
half-applied (each is one atomic operation on the server).
"""

from mesh.kv.port import Conflict, KeyValueStore, Versioned, update
from mesh.kv.select import open_store

__all__ = ["Conflict", "KeyValueStore", "Versioned", "open_store", "update"]
