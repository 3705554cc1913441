"""Composition root of the inventory service."""

from __future__ import annotations

from grpc import aio

from mesh.clients import Clients
from mesh.config import Settings
from mesh.db import Database
from mesh.server import ServiceUnit
from services.inventory.servicer import InventoryServicer
from services.inventory.store import InventoryStore
from services.inventory.sweeper import Sweeper
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

SERVICE = "inventory"
GRPC_SERVICE = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name


def build_unit(
    settings: Settings, database: Database, clients: Clients | None = None
) -> ServiceUnit:
    """The service's unit; it calls no one, so ``clients`` is unused."""
    store = InventoryStore(database.engine, reservation_ttl=settings.reservation_ttl)
    servicer = InventoryServicer(store)

    def add(server: aio.Server) -> None:
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(servicer, server)

    # The sweeper starts after the database and stops before it closes.
    sweeper = Sweeper(store, settings.reservation_sweep)
    return ServiceUnit(SERVICE, [GRPC_SERVICE], add, lifecycles=[database, sweeper])
