"""The DynamoDB adapter of the catalog port.

Key schema (the Terraform table in ``deploy/terraform/modules/catalog_table``
matches these names; tests/deploy checks it):

- the table is keyed by ``sku`` alone, so GetItem and BatchGetItem (the hot
  path: orders and carts price their lines) spread over partitions and read
  strongly consistent;
- the global secondary index ``by_sku`` has the constant partition key
  ``listing = "product"`` and ``sku`` as its sort key: one ordered run, so
  ListProducts is a Query by sku ascending, as SQL's ``ORDER BY sku``. A GSI
  is eventually consistent (a new product shows in lists a moment after it can
  be read) and one index partition takes ~1000 writes/s, ample for a catalog.

Pagination: each Query starts at the key after the last product returned
(``ExclusiveStartKey`` is that product's sku plus the constant), and follows
``LastEvaluatedKey`` until the page is full. ``Limit`` counts items *before*
``FilterExpression``, so with the ``active`` filter the adapter reads on until
it has ``limit + 1`` matches or the index ends: pages are full, and "more
follow" is exact, as in SQL. The page token carries only the sku (the
variable part of the key, checked against the sku pattern by the servicer):
the full key is rebuilt here, so a client cannot inject a start key.

Writes: create is a PutItem on ``attribute_not_exists(sku)``; update reads
the item with its ``version``, writes the whole item back on ``version =
read``, and on a conflict reads again (at most :data:`MAX_ATTEMPTS` times,
then ABORTED): a concurrent update is retried or refused, never lost. Delete
is conditional on the item existing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mesh.dynamodb import call
from mesh.errors import Aborted, Unavailable
from mesh.timeutil import now_us
from services.catalog.port import ProductRecord, already_exists, not_found

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = [
    "BATCH_KEYS",
    "INDEX",
    "INDEX_KEY",
    "LISTING",
    "MAX_ATTEMPTS",
    "TABLE_KEY",
    "DynamoCatalogStore",
]

TABLE_KEY = "sku"
INDEX = "by_sku"
INDEX_KEY = "listing"
LISTING = "product"
# BatchGetItem's own limit.
BATCH_KEYS = 100
# Enough for a handful of replicas updating one product at once.
MAX_ATTEMPTS = 16
# With a filter, read at least this many index entries per Query, so a sparse
# filter costs a few round trips rather than one per product.
FILTERED_READ = 200


def _item(record: ProductRecord, version: int) -> dict[str, Any]:
    return {
        TABLE_KEY: {"S": record.sku},
        INDEX_KEY: {"S": LISTING},
        "display_name": {"S": record.display_name},
        "description": {"S": record.description},
        "currency_code": {"S": record.currency_code},
        "amount_minor": {"N": str(record.amount_minor)},
        "active": {"BOOL": record.active},
        "create_time": {"N": str(record.create_time)},
        "update_time": {"N": str(record.update_time)},
        "version": {"N": str(version)},
    }


def _record(item: dict[str, Any]) -> ProductRecord:
    return ProductRecord(
        sku=item[TABLE_KEY]["S"],
        display_name=item["display_name"]["S"],
        description=item["description"]["S"],
        currency_code=item["currency_code"]["S"],
        amount_minor=int(item["amount_minor"]["N"]),
        active=bool(item["active"]["BOOL"]),
        create_time=int(item["create_time"]["N"]),
        update_time=int(item["update_time"]["N"]),
    )


async def _backoff(attempt: int) -> None:
    # Jittered, so writers (or throttled batches) that collided do not collide again in step.
    await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))


class DynamoCatalogStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.description = f"dynamodb table {table}"

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        return await call(self.client, operation, TableName=self.table, **kwargs)

    async def create(self, record: ProductRecord) -> ProductRecord:
        now = now_us()
        record = replace(record, create_time=now, update_time=now)
        reply = await self._call(
            "put_item",
            Item=_item(record, 1),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": TABLE_KEY},
        )
        if reply is None:
            raise already_exists(record.sku)
        return record

    async def _read(self, sku: str) -> tuple[ProductRecord, int]:
        reply = await self._call("get_item", Key={TABLE_KEY: {"S": sku}}, ConsistentRead=True)
        item = reply.get("Item")
        if not item:
            raise not_found(sku)
        return _record(item), int(item["version"]["N"])

    async def get(self, sku: str) -> ProductRecord:
        return (await self._read(sku))[0]

    async def get_many(self, skus: Iterable[str]) -> dict[str, ProductRecord]:
        """The products among ``skus`` that exist: BatchGetItem, 100 keys a call, and
        the keys DynamoDB leaves unprocessed (throttling) asked again."""
        wanted = sorted(set(skus))  # BatchGetItem refuses a repeated key
        found: dict[str, ProductRecord] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            keys = [{TABLE_KEY: {"S": sku}} for sku in wanted[start : start + BATCH_KEYS]]
            for attempt in range(MAX_ATTEMPTS):
                if attempt:
                    await _backoff(attempt)
                reply = await call(
                    self.client,
                    "batch_get_item",
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}},
                )
                for item in reply.get("Responses", {}).get(self.table, []):
                    record = _record(item)
                    found[record.sku] = record
                keys = reply.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
            else:
                raise Unavailable(
                    "dynamodb kept leaving keys unprocessed (throttled); try again",
                    reason="STORE_UNAVAILABLE",
                    metadata={"dependency": "dynamodb"},
                )
        return found

    async def page(
        self, *, after: str | None, limit: int, active: bool | None
    ) -> tuple[list[ProductRecord], bool]:
        """Up to ``limit`` products with sku > ``after``, and whether more follow."""
        query: dict[str, Any] = {
            "IndexName": INDEX,
            "KeyConditionExpression": "#l = :l",
            "ExpressionAttributeNames": {"#l": INDEX_KEY},
            "ExpressionAttributeValues": {":l": {"S": LISTING}},
        }
        if active is not None:
            query["FilterExpression"] = "#a = :a"
            query["ExpressionAttributeNames"]["#a"] = "active"
            query["ExpressionAttributeValues"][":a"] = {"BOOL": active}
        start: dict[str, Any] | None = None
        if after is not None:
            start = {TABLE_KEY: {"S": after}, INDEX_KEY: {"S": LISTING}}
        found: list[ProductRecord] = []
        while len(found) <= limit:
            wanted = limit + 1 - len(found)
            extra = {"ExclusiveStartKey": start} if start else {}
            reply = await self._call(
                "query",
                Limit=wanted if active is None else max(wanted, FILTERED_READ),
                **query,
                **extra,
            )
            found += [_record(item) for item in reply.get("Items", [])]
            start = reply.get("LastEvaluatedKey")
            if start is None:
                break
        return found[:limit], len(found) > limit

    async def update(self, sku: str, changes: dict[str, Any]) -> ProductRecord:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await _backoff(attempt)
            current, version = await self._read(sku)
            record = replace(current, **changes, update_time=now_us())
            reply = await self._call(
                "put_item",
                Item=_item(record, version + 1),
                # Fails if another write (or a delete) came between: read again.
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
            if reply is not None:
                return record
        raise Aborted(
            f"product {sku!r} kept changing under {MAX_ATTEMPTS} attempts; try again",
            reason="CONCURRENT_UPDATE",
            metadata={"sku": sku, "attempts": str(MAX_ATTEMPTS)},
        )

    async def delete(self, sku: str) -> None:
        reply = await self._call(
            "delete_item",
            Key={TABLE_KEY: {"S": sku}},
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#k": TABLE_KEY},
        )
        if reply is None:
            raise not_found(sku)

    async def start(self, server: MeshServer | None = None) -> None:
        return None

    async def stop(self) -> None:
        return None
