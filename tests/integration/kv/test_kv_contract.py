"""One contract for every key-value adapter: Redis (the real server), the embedded
SQLite file, and DynamoDB (through moto's server with real boto3 calls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import boto3
import grpc
import pytest

from mesh.errors import Unavailable
from mesh.kv import KeyValueStore, update
from mesh.kv.dynamodb import DynamoStore
from mesh.kv.embedded import EmbeddedStore
from mesh.kv.redis import RedisStore
from tests.support.moto import moto_server
from tests.support.redis import drop_prefix, require_redis, unique_prefix


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def dynamo_table(endpoint: str, name: str) -> DynamoStore:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoStore(client, name)


@pytest.fixture(params=["redis", "embedded", "dynamodb"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_url: str
) -> AsyncIterator[KeyValueStore]:
    kind: str = request.param
    made: KeyValueStore
    if kind == "redis":
        url = require_redis()
        prefix = unique_prefix()
        made = RedisStore(url, prefix=prefix)
    elif kind == "embedded":
        made = EmbeddedStore(tmp_path / "kv.db")
    else:
        made = await asyncio.to_thread(dynamo_table, moto_url, f"t-{unique_prefix()[5:-1]}")
    await made.start()
    try:
        yield made
    finally:
        await made.stop()
        if kind == "redis":
            await drop_prefix(url, prefix)


async def test_put_creates_at_version_one_and_get_reads_it(store: KeyValueStore) -> None:
    assert await store.get("k") is None
    assert await store.put("k", b"one", expect=0, ttl=60) == 1
    found = await store.get("k")
    assert found is not None and (found.value, found.version) == (b"one", 1)


async def test_a_write_against_a_stale_version_is_refused(store: KeyValueStore) -> None:
    assert await store.put("k", b"one", expect=0, ttl=60) == 1
    assert await store.put("k", b"again", expect=0, ttl=60) is None  # exists already
    assert await store.put("k", b"two", expect=1, ttl=60) == 2
    assert await store.put("k", b"lost", expect=1, ttl=60) is None
    found = await store.get("k")
    assert found is not None and (found.value, found.version) == (b"two", 2)


async def test_delete_is_conditional_too(store: KeyValueStore) -> None:
    await store.put("k", b"one", expect=0, ttl=60)
    assert not await store.delete("k", expect=2)
    assert await store.get("k") is not None
    assert await store.delete("k", expect=1)
    assert await store.get("k") is None
    assert not await store.delete("k", expect=1)
    assert await store.put("k", b"fresh", expect=0, ttl=60) == 1


async def test_values_expire_and_a_write_refreshes_the_ttl(store: KeyValueStore) -> None:
    await store.put("short", b"x", expect=0, ttl=0.3)
    await store.put("kept", b"x", expect=0, ttl=0.3)
    await store.put("kept", b"y", expect=1, ttl=60)
    deadline = asyncio.get_running_loop().time() + 5
    while await store.get("short") is not None:  # expiry is the signal waited for
        assert asyncio.get_running_loop().time() < deadline, "the value never expired"
        await asyncio.sleep(0.05)
    kept = await store.get("kept")
    assert kept is not None and kept.value == b"y"
    # An expired key is absent for writers too.
    assert await store.put("short", b"new", expect=0, ttl=60) == 1


async def test_concurrent_updates_never_lose_a_change(store: KeyValueStore) -> None:
    """Twenty writers append to one value at once: every append survives."""

    def append(item: str) -> Callable[[bytes | None], bytes]:
        def change(current: bytes | None) -> bytes:
            return (current or b"") + item.encode() + b","

        return change

    await asyncio.gather(*(update(store, "list", append(f"i{n}"), ttl=60) for n in range(20)))
    found = await store.get("list")
    assert found is not None
    assert sorted(found.value.decode().strip(",").split(",")) == sorted(f"i{n}" for n in range(20))
    assert found.version == 20


async def test_update_deletes_when_the_change_returns_none(store: KeyValueStore) -> None:
    await store.put("k", b"x", expect=0, ttl=60)
    assert await update(store, "k", lambda _: None, ttl=60) == (None, 0)
    assert await store.get("k") is None


async def test_unreachable_redis_is_unavailable_naming_it() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", prefix="x:", timeout=0.5)
    await store.start()
    try:
        with pytest.raises(Unavailable) as caught:
            await store.get("k")
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
        assert caught.value.metadata == {"dependency": "redis"}
        with pytest.raises(Unavailable):
            await store.put("k", b"x", expect=0, ttl=1)
    finally:
        await store.stop()
