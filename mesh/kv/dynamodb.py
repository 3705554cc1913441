"""The DynamoDB adapter of the key-value port: conditional writes on a ``version`` attribute.

Items are ``{pk, version, value, expires}``; ``expires`` (epoch seconds) is the
table's TTL attribute, and reads treat an expired item as absent because
DynamoDB deletes expired items only eventually. boto3 is synchronous, so each
call runs in a worker thread; botocore's own retries (standard mode) cover
throttling, and a call that cannot reach DynamoDB raises UNAVAILABLE naming it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from mesh.errors import Unavailable
from mesh.kv.port import Versioned

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["DynamoStore", "dynamodb_unavailable"]

log = logging.getLogger("mesh.kv")


def dynamodb_unavailable(exc: Exception) -> Unavailable:
    log.warning("dynamodb call failed: %s", type(exc).__name__)
    return Unavailable(
        f"dynamodb is unavailable: {type(exc).__name__}",
        reason="STORE_UNAVAILABLE",
        metadata={"dependency": "dynamodb"},
    )


class DynamoStore:
    def __init__(self, client: Any, table: str, *, prefix: str = "") -> None:
        self.client = client
        self.table = table
        self.prefix = prefix
        self.description = f"dynamodb table {table}"

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, operation), **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise dynamodb_unavailable(exc) from None
        except BotoCoreError as exc:
            raise dynamodb_unavailable(exc) from None

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
