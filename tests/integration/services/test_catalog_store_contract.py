"""One contract for every catalog store adapter: SQL (SQLite and PostgreSQL) and
DynamoDB (moto's server, real boto3 calls), the way the registry back ends share one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest

from mesh.db import Database
from mesh.errors import AlreadyExists, MeshError, NotFound, Unavailable
from mesh.service import migrations_dir
from services.catalog import app as catalog_app
from services.catalog.dynamodb import BATCH_KEYS, DynamoCatalogStore
from services.catalog.port import CatalogStore, ProductRecord
from services.catalog.sql import SqlCatalogStore
from tests.integration.discovery.support import REGION
from tests.support.dynamodb import create_catalog_table
from tests.support.mesh import reset
from tests.support.moto import moto_server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def dynamo_client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "dynamodb"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None, moto_url: str
) -> AsyncIterator[CatalogStore]:
    kind: str = request.param
    if kind == "dynamodb":
        name = f"catalog-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(create_catalog_table, moto_url, name)
        yield DynamoCatalogStore(dynamo_client(moto_url), name)
        return
    if kind == "postgres" and pg_url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    url = pg_url if kind == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
    assert url is not None
    database = Database(url, "catalog", migrations_dir(catalog_app.__file__))
    await database.start()
    await reset(database, "catalog")
    try:
        yield SqlCatalogStore(database.engine)
    finally:
        await database.stop()


def record(sku: str, *, active: bool = True, amount: int = 1200) -> ProductRecord:
    return ProductRecord(
        sku=sku,
        display_name=f"Product {sku}",
        description="",
        currency_code="EUR",
        amount_minor=amount,
        active=active,
    )


def assert_error(error: MeshError, code: grpc.StatusCode, reason: str, sku: str) -> None:
    assert (error.code, error.reason, dict(error.metadata)) == (code, reason, {"sku": sku})


async def test_create_stamps_microseconds_and_get_reads_it_back(store: CatalogStore) -> None:
    created = await store.create(record("mug"))
    assert created.create_time == created.update_time
    assert created.create_time > 10**15  # microseconds since the epoch, not seconds
    assert await store.get("mug") == created
    assert created == replace(
        record("mug"), create_time=created.create_time, update_time=created.update_time
    )


async def test_create_twice_is_already_exists_and_keeps_the_first(store: CatalogStore) -> None:
    first = await store.create(record("mug", amount=1))
    with pytest.raises(AlreadyExists) as caught:
        await store.create(record("mug", amount=2))
    assert_error(caught.value, grpc.StatusCode.ALREADY_EXISTS, "PRODUCT_EXISTS", "mug")
    assert await store.get("mug") == first


async def test_missing_products_are_not_found_naming_the_sku(store: CatalogStore) -> None:
    for attempt in (
        store.get("nope"),
        store.update("nope", {"display_name": "x"}),
        store.delete("nope"),
    ):
        with pytest.raises(NotFound) as caught:
            await attempt
        assert_error(caught.value, grpc.StatusCode.NOT_FOUND, "PRODUCT_NOT_FOUND", "nope")
    assert await store.page(after=None, limit=10, active=None) == ([], False)


async def test_get_many_returns_those_that_exist_across_batches(store: CatalogStore) -> None:
    skus = [f"p{n:03d}" for n in range(BATCH_KEYS * 2 + 5)]
    for sku in skus:
        await store.create(record(sku))
    asked = [*reversed(skus), skus[0], skus[7], "missing-1", "missing-2"]
    found = await store.get_many(asked)
    assert sorted(found) == skus
    assert all(found[s].sku == s for s in skus)
    assert await store.get_many([]) == {}


async def test_pages_run_by_sku_ascending_without_gaps(store: CatalogStore) -> None:
    skus = ["b-2", "A1", "a.1", "a-1", "Z", "a1", "9z", "a_1", "b10", "b2"]
    for sku in skus:
        await store.create(record(sku))
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page, more = await store.page(after=after, limit=3, active=None)
        seen += [r.sku for r in page]
        pages += 1
        if not more:
            break
        after = page[-1].sku
    # Byte order (the C collation): digits, upper case, then '.', '_', lower case.
    assert seen == sorted(skus, key=lambda s: s.encode())
    assert pages == 4


async def test_the_active_filter_fills_every_page(store: CatalogStore) -> None:
    """DynamoDB's Limit counts items before the filter: the adapter must read on."""
    for n in range(40):
        await store.create(record(f"s{n:02d}", active=n % 9 == 0))
    wanted = [f"s{n:02d}" for n in range(40) if n % 9 == 0]  # s00 s09 s18 s27 s36
    first, more = await store.page(after=None, limit=2, active=True)
    assert ([r.sku for r in first], more) == (wanted[:2], True)
    second, more = await store.page(after=first[-1].sku, limit=2, active=True)
    assert ([r.sku for r in second], more) == (wanted[2:4], True)
    last, more = await store.page(after=second[-1].sku, limit=2, active=True)
    assert ([r.sku for r in last], more) == (wanted[4:], False)
    inactive, more = await store.page(after=None, limit=100, active=False)
    assert len(inactive) == 35 and not more
    exact, more = await store.page(after=None, limit=5, active=True)
    assert [r.sku for r in exact] == wanted and not more  # no empty page after a full one


async def test_update_changes_only_the_given_fields(store: CatalogStore) -> None:
    created = await store.create(record("mug"))
    updated = await store.update("mug", {"display_name": "Big mug", "amount_minor": 5})
    assert updated == replace(
        created, display_name="Big mug", amount_minor=5, update_time=updated.update_time
    )
    assert updated.update_time >= created.update_time
    assert await store.get("mug") == updated
    listed, _ = await store.page(after=None, limit=10, active=None)
    assert listed == [updated]


async def test_concurrent_updates_of_different_fields_are_never_lost(
    store: CatalogStore,
) -> None:
    await store.create(record("mug"))
    for round_ in range(8):
        await asyncio.gather(
            store.update("mug", {"display_name": f"name {round_}"}),
            store.update("mug", {"amount_minor": round_}),
            store.update("mug", {"description": f"text {round_}"}),
            store.update("mug", {"active": round_ % 2 == 0}),
        )
        got = await store.get("mug")
        assert (got.display_name, got.amount_minor, got.description, got.active) == (
            f"name {round_}",
            round_,
            f"text {round_}",
            round_ % 2 == 0,
        )


async def test_delete_removes_and_the_sku_can_be_reused(store: CatalogStore) -> None:
    await store.create(record("mug", amount=1))
    await store.delete("mug")
    with pytest.raises(NotFound):
        await store.get("mug")
    assert await store.get_many(["mug"]) == {}
    again = await store.create(record("mug", amount=2))
    assert await store.get("mug") == again


# DynamoDB only: what SQL has no counterpart for, or tests elsewhere (test_db_outage).


async def test_unreachable_dynamodb_is_unavailable_naming_it() -> None:
    client = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:1", region_name=REGION)
    store = DynamoCatalogStore(client, "catalog")
    for attempt in (
        store.get("mug"),
        store.create(record("mug")),
        store.get_many(["mug"]),
        store.page(after=None, limit=1, active=None),
    ):
        with pytest.raises(Unavailable) as caught:
            await attempt
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
        assert caught.value.metadata == {"dependency": "dynamodb"}


async def test_keys_dynamodb_leaves_unprocessed_are_asked_again(moto_url: str) -> None:
    """A throttled BatchGetItem answers part and returns the rest as UnprocessedKeys."""
    name = f"catalog-{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(create_catalog_table, moto_url, name)
    client = dynamo_client(moto_url)
    store = DynamoCatalogStore(client, name)
    for sku in ("a", "b", "c"):
        await store.create(record(sku))
    calls: list[int] = []

    def throttle(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(len(parsed["Responses"][name]))
        if len(calls) == 1:  # the first answer keeps only one item back
            held = parsed["Responses"][name][1:]
            parsed["Responses"][name] = parsed["Responses"][name][:1]
            parsed["UnprocessedKeys"] = {
                name: {"Keys": [{"sku": item["sku"]} for item in held], "ConsistentRead": True}
            }

    client.meta.events.register("after-call.dynamodb.BatchGetItem", throttle)
    found = await store.get_many(["a", "b", "c"])
    assert sorted(found) == ["a", "b", "c"]
    assert calls == [3, 2]
