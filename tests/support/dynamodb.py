"""DynamoDB tables in moto's server on loopback (real boto3 calls): the key-value
port's, and the catalog's (the key schema deploy/terraform provisions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import boto3

from services.catalog.dynamodb import INDEX, INDEX_KEY, TABLE_KEY
from tests.integration.discovery.support import REGION
from tests.support.moto import moto_server

__all__ = ["catalog_table", "create_catalog_table", "create_kv_table", "dynamodb_table"]


def create_kv_table(endpoint: str, name: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def create_catalog_table(endpoint: str, name: str) -> None:
    """The catalog's table: keyed by sku, with the ``by_sku`` index for ordered lists."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": TABLE_KEY, "AttributeType": "S"},
            {"AttributeName": INDEX_KEY, "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": INDEX_KEY, "KeyType": "HASH"},
                    {"AttributeName": TABLE_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@asynccontextmanager
async def dynamodb_table() -> AsyncIterator[tuple[str, str]]:
    """(endpoint URL, table name) of a fresh table in a fresh moto server."""
    with moto_server() as endpoint:
        name = f"kv-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(create_kv_table, endpoint, name)
        yield endpoint, name


@asynccontextmanager
async def catalog_table() -> AsyncIterator[tuple[str, str]]:
    """(endpoint URL, table name) of a fresh catalog table in a fresh moto server."""
    with moto_server() as endpoint:
        name = f"catalog-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(create_catalog_table, endpoint, name)
        yield endpoint, name
