"""Composition root of the carts service (store: redis)."""

from __future__ import annotations

from grpc import aio

from mesh import kv
from mesh.clients import Clients
from mesh.config import Settings
from mesh.server import ServiceUnit
from services.carts.servicer import CartsServicer
from services.carts.store import CartsStore
from shop.carts.v1 import carts_pb2, carts_pb2_grpc

SERVICE = "carts"
GRPC_SERVICE = carts_pb2.DESCRIPTOR.services_by_name["CartsService"].full_name


def open_store(settings: Settings) -> kv.KeyValueStore:
    return kv.open_store(settings)


def build_unit(
    settings: Settings, store: kv.KeyValueStore, clients: Clients | None
) -> ServiceUnit:
    """The carts unit; ``clients`` reach catalog and orders (mesh.service wires them)."""
    if clients is None:
        raise ValueError("carts needs clients for catalog and orders")
    servicer = CartsServicer(CartsStore(store), clients)

    def add(server: aio.Server) -> None:
        carts_pb2_grpc.add_CartsServiceServicer_to_server(servicer, server)

    return ServiceUnit(SERVICE, [GRPC_SERVICE], add, lifecycles=[store])
