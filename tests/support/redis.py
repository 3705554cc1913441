"""The Redis on 127.0.0.1:6379 for tests: skipped locally when absent, required when CI=true.

Each test gets its own key prefix, and its keys are deleted afterwards, so tests
share the server with each other (and with a running ``scripts/run``) safely.
"""

from __future__ import annotations

import os
import uuid

import pytest

from mesh.kv.select import LOCAL_REDIS, local_redis_answers

REDIS_URL = os.environ.get("MESH_TEST_REDIS_URL", "redis://{}:{}/0".format(*LOCAL_REDIS))


def require_redis() -> str:
    """The test Redis URL, or a skip (a failure when CI=true) naming why."""
    if not local_redis_answers():
        reason = "Redis is not reachable on {}:{} (required when CI=true)".format(*LOCAL_REDIS)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return REDIS_URL


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


async def drop_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
