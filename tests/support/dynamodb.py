"""A DynamoDB table for the key-value port, in moto's server on loopback (real boto3 calls)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import boto3

from tests.support.moto import moto_server

__all__ = ["create_kv_table", "dynamodb_table"]


def create_kv_table(endpoint: str, name: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@asynccontextmanager
async def dynamodb_table() -> AsyncIterator[tuple[str, str]]:
    """(endpoint URL, table name) of a fresh table in a fresh moto server."""
    with moto_server() as endpoint:
        name = f"kv-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(create_kv_table, endpoint, name)
        yield endpoint, name
