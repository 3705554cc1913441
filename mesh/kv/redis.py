"""The Redis adapter (ElastiCache for Valkey or Redis OSS on AWS), on redis-py's asyncio client.

A key is a hash ``{v: version, d: value}`` with a TTL. Each write is one Lua
script that checks the version and writes (and refreshes the TTL) atomically on
the server, so a write is either whole or absent, and two writers never both
win. Connections are pooled and re-made after Redis comes back; a command that
cannot reach Redis raises UNAVAILABLE naming ``redis``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mesh.errors import Unavailable
from mesh.kv.port import Versioned

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["RedisStore", "redacted"]

log = logging.getLogger("mesh.kv")

_PUT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
local version = current + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return version
"""
_DELETE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


def redacted(url: str) -> str:
    """The URL without its password (for logs)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        password: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.description = f"redis at {redacted(url)}"
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            password=password,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=30,
        )
        self._put = self.client.register_script(_PUT)
        self._delete = self.client.register_script(_DELETE)

    def _unavailable(self, exc: Exception) -> Unavailable:
        log.warning("redis call failed: %s", type(exc).__name__)
        return Unavailable(
            f"redis is unavailable: {type(exc).__name__}",
            reason="STORE_UNAVAILABLE",
            metadata={"dependency": "redis"},
        )

    async def _run(self, command: Any) -> Any:
        try:
            return await command
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from None
        except RedisError as exc:  # READONLY replica, OOM, auth: not ours to hide
            raise self._unavailable(exc) from exc

    async def get(self, key: str) -> Versioned | None:
        found: list[bytes | None] = await self._run(
            self.client.hmget(self.prefix + key, ["v", "d"])
        )
        version, value = found
        if version is None or value is None:
            return None
        return Versioned(value, int(version))

    async def put(self, key: str, value: bytes, *, expect: int, ttl: float) -> int | None:
        ttl_ms = max(1, round(ttl * 1000))
        result = await self._run(self._put(keys=[self.prefix + key], args=[expect, value, ttl_ms]))
        return None if int(result) < 0 else int(result)

    async def delete(self, key: str, *, expect: int) -> bool:
        result = await self._run(self._delete(keys=[self.prefix + key], args=[expect]))
        return int(result) == 1

    async def start(self, server: MeshServer | None = None) -> None:
        # Not fatal: the service starts, answers UNAVAILABLE and recovers when Redis does.
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            log.warning("redis not reachable at start: %s", type(exc).__name__)

    async def stop(self) -> None:
        await self.client.aclose()
