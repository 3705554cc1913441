"""Composition root of the orders service."""

from __future__ import annotations

from grpc import aio

from mesh.clients import Clients
from mesh.config import Settings
from mesh.db import Database
from mesh.paging import PageTokens
from mesh.server import ServiceUnit
from services.orders.events import OrderEvents
from services.orders.lifecycle import Lifecycle
from services.orders.payments import PaymentProvider, SandboxPayments
from services.orders.servicer import OrdersServicer
from services.orders.settler import Settler
from services.orders.store import OrdersStore
from services.orders.workflow import LOCAL_STATE_MACHINE, NoWorkflow, StepFunctions, Workflow
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

SERVICE = "orders"
GRPC_SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name


def build_workflow(settings: Settings) -> Workflow:
    """The workflow adapter ``MESH_WORKFLOW`` names (see mesh.config)."""
    workflow = settings.workflow
    if workflow.kind == "off":
        return NoWorkflow()
    return StepFunctions(
        workflow.state_machine_arn or LOCAL_STATE_MACHINE,
        endpoint_url=workflow.endpoint,
        endpoint_file=workflow.endpoint_file,
        region=settings.aws_region,
        local=workflow.kind == "local",
    )


def build_unit(
    settings: Settings,
    database: Database,
    clients: Clients | None = None,
    *,
    workflow: Workflow | None = None,
    payments: PaymentProvider | None = None,
) -> ServiceUnit:
    """The orders unit; ``clients`` reach catalog and inventory (mesh.service wires them).

    ``payments`` is where a real payment provider plugs in (default: the sandbox).
    """
    if clients is None:
        raise ValueError("orders needs clients for catalog and inventory")
    events = OrderEvents()
    store = OrdersStore(database.engine)
    lifecycle = Lifecycle(
        store,
        clients,
        events,
        workflow or build_workflow(settings),
        payments or SandboxPayments(),
        settings.workflow.payment_deadline,
    )
    servicer = OrdersServicer(
        store,
        clients,
        PageTokens(settings.page_token_key),
        events,
        lifecycle,
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
