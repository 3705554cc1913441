"""Which key-value adapter a process uses, from its settings, and how the choice is shown.

- ``store: redis`` with ``<SERVICE>_REDIS_URL=embedded``: the embedded file, always.
- ``store: redis`` with a URL (``<SERVICE>_REDIS_URL`` / ``MESH_REDIS_URL``, required
  outside local runs): that Redis, and only it. When it is down, calls fail
  UNAVAILABLE and recover when it is back; there is no silent fallback.
- ``store: redis`` locally without a URL: the Redis on 127.0.0.1:6379 if it
  answers a PING at start-up, else the embedded SQLite file
  ``<data dir>/<service>.kv.db``. The choice is logged once at start
  (``store: redis at ...`` or ``store: embedded ...``) and kept for the process.
- ``store: dynamodb``: the table ``<SERVICE>_DYNAMODB_TABLE`` (boto3).
"""

from __future__ import annotations

import logging
import socket

from mesh.config import Settings
from mesh.dynamodb import dynamodb_client
from mesh.kv.dynamodb import DynamoStore
from mesh.kv.embedded import EmbeddedStore
from mesh.kv.port import KeyValueStore
from mesh.kv.redis import RedisStore

__all__ = ["LOCAL_REDIS", "local_redis_answers", "open_store"]

log = logging.getLogger("mesh.kv")
LOCAL_REDIS = ("127.0.0.1", 6379)


def local_redis_answers(address: tuple[str, int] = LOCAL_REDIS, timeout: float = 0.5) -> bool:
    """True if a Redis answers PING at ``address`` (a plain socket: no pool to clean up)."""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def open_store(settings: Settings) -> KeyValueStore:
    """The key-value store of ``settings.store`` (redis or dynamodb), not started yet."""
    store: KeyValueStore
    if settings.store == "redis":
        url = settings.redis_url
        if url is None and settings.local and local_redis_answers():
            url = "redis://{}:{}/0".format(*LOCAL_REDIS)
        if url is None or url == "embedded":
            store = EmbeddedStore(settings.data_dir / f"{settings.service}.kv.db")
            reason = (
                "asked for"
                if url
                else "no Redis answered on {}:{}; set MESH_REDIS_URL to require one".format(
                    *LOCAL_REDIS
                )
            )
        else:
            store = RedisStore(url, prefix=settings.redis_prefix, password=settings.redis_password)
            reason = "MESH_REDIS_URL" if settings.redis_url else "found on this machine"
    elif settings.store == "dynamodb":
        store = DynamoStore(dynamodb_client(settings), settings.dynamodb_table)
        reason = "store: dynamodb"
    else:
        raise ValueError(
            f"{settings.service}: store {settings.store!r} is not a key-value store (redis, dynamodb)"
        )
    log.info("store: %s (%s)", store.description, reason)
    return store
