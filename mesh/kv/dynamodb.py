"""The DynamoDB adapter of the key-value port: conditional writes on a ``version`` attribute.

Items are ``{pk, version, value, expires}``; ``expires`` (epoch seconds) is the
table's TTL attribute, and reads treat an expired item as absent because
DynamoDB deletes expired items only eventually. Calls go through
:func:`mesh.dynamodb.call` (worker thread, botocore's retries, UNAVAILABLE
naming DynamoDB when it cannot be reached).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mesh.dynamodb import call
from mesh.kv.port import Versioned

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["DynamoStore"]


class DynamoStore:
    def __init__(self, client: Any, table: str, *, prefix: str = "") -> None:
        self.client = client
        self.table = table
        self.prefix = prefix
        self.description = f"dynamodb table {table}"

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        return await call(self.client, operation, **kwargs)

    async def get(self, key: str) -> Versioned | None:
        reply = await self._call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": self.prefix + key}},
            ConsistentRead=True,
        )
        item = (reply or {}).get("Item")
        if not item or float(item["expires"]["N"]) <= time.time():
            return None
        return Versioned(bytes(item["value"]["B"]), int(item["version"]["N"]))

    async def put(self, key: str, value: bytes, *, expect: int, ttl: float) -> int | None:
        version = expect + 1
        # Absent, expired, or at the expected version.
        condition = "attribute_not_exists(pk) OR expires <= :now"
        values: dict[str, Any] = {":now": {"N": str(time.time())}}
        if expect:
            condition = "version = :expect AND expires > :now"
            values[":expect"] = {"N": str(expect)}
        reply = await self._call(
            "put_item",
            TableName=self.table,
            Item={
                "pk": {"S": self.prefix + key},
                "version": {"N": str(version)},
                "value": {"B": value},
                "expires": {"N": f"{time.time() + ttl:.3f}"},
            },
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        return None if reply is None else version

    async def delete(self, key: str, *, expect: int) -> bool:
        reply = await self._call(
            "delete_item",
            TableName=self.table,
            Key={"pk": {"S": self.prefix + key}},
            ConditionExpression="version = :expect AND expires > :now",
            ExpressionAttributeValues={
                ":expect": {"N": str(expect)},
                ":now": {"N": str(time.time())},
            },
        )
        return reply is not None

    async def start(self, server: MeshServer | None = None) -> None:
        return None

    async def stop(self) -> None:
        return None
