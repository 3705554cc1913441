"""Composition root of the orders service."""

from __future__ import annotations

from grpc import aio

from mesh.clients import Clients
from mesh.config import Settings
from mesh.db import Database
from mesh.paging import PageTokens
from mesh.server import ServiceUnit
from services.orders.events import OrderEvents
from services.orders.servicer import OrdersServicer
from services.orders.settler import Settler
from services.orders.store import OrdersStore
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

SERVICE = "orders"
GRPC_SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name


def build_unit(
    settings: Settings, database: Database, clients: Clients | None = None
) -> ServiceUnit:
    """The orders unit; ``clients`` reach catalog and inventory (mesh.service wires them)."""
    if clients is None:
        raise ValueError("orders needs clients for catalog and inventory")
    events = OrderEvents()
    servicer = OrdersServicer(
        OrdersStore(database.engine),
        clients,
        PageTokens(settings.page_token_key),
        events,
        watch_poll=settings.watch_poll,
        fault_exit_at=settings.fault_exit_at,
    )

    def add(server: aio.Server) -> None:
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, server)

    return ServiceUnit(
        SERVICE,
        [GRPC_SERVICE],
        add,
        lifecycles=[database],
        on_shutdown=events.close,
        announcers=[Settler(servicer, settings.order_settle)],
    )
