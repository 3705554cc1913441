"""Composition root of the catalog service (store: sql, or dynamodb).

``store`` in services.yaml, or ``CATALOG_STORE``, picks the adapter:
``sql`` (PostgreSQL; SQLite locally) or ``dynamodb`` (the table
``CATALOG_DYNAMODB_TABLE``, default ``catalog``).
"""

from __future__ import annotations

from grpc import aio

from mesh.clients import Clients
from mesh.config import Settings
from mesh.db import Database
from mesh.dynamodb import dynamodb_client
from mesh.paging import PageTokens
from mesh.server import ServiceUnit
from mesh.service import migrations_dir, open_database
from services.catalog.dynamodb import DynamoCatalogStore
from services.catalog.port import CatalogStore
from services.catalog.servicer import CatalogServicer
from services.catalog.sql import SqlCatalogStore
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

SERVICE = "catalog"
GRPC_SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
STORES = ("sql", "dynamodb")

Backend = Database | DynamoCatalogStore


def open_store(settings: Settings) -> Backend:
    """The catalog's backing store for ``settings.store``, not started yet."""
    if settings.store == "sql":
        return open_database(settings, migrations_dir(__file__))
    if settings.store == "dynamodb":
        return DynamoCatalogStore(dynamodb_client(settings), settings.dynamodb_table)
    raise ValueError(
        f"{SERVICE}: store {settings.store!r} is not supported (CATALOG_STORE: {', '.join(STORES)})"
    )


def build_unit(settings: Settings, store: Backend, clients: Clients | None = None) -> ServiceUnit:
    """The service's unit over ``store`` (a Database or a DynamoDB table); it calls no
    one, so ``clients`` is unused."""
    products: CatalogStore = SqlCatalogStore(store.engine) if isinstance(store, Database) else store
    servicer = CatalogServicer(products, PageTokens(settings.page_token_key))

    def add(server: aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)

    return ServiceUnit(SERVICE, [GRPC_SERVICE], add, lifecycles=[store])
