"""Composition root of the catalog service."""

from __future__ import annotations

from grpc import aio

from mesh.clients import Clients
from mesh.config import Settings
from mesh.db import Database
from mesh.paging import PageTokens
from mesh.server import ServiceUnit
from services.catalog.servicer import CatalogServicer
from services.catalog.store import CatalogStore
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

SERVICE = "catalog"
GRPC_SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


def build_unit(
    settings: Settings, database: Database, clients: Clients | None = None
) -> ServiceUnit:
    """The service's unit; it calls no one, so ``clients`` is unused."""
    servicer = CatalogServicer(CatalogStore(database.engine), PageTokens(settings.page_token_key))

    def add(server: aio.Server) -> None:
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)

    return ServiceUnit(SERVICE, [GRPC_SERVICE], add, lifecycles=[database])
