"""Takes a paid order's reserved stock out of the stock on hand, for good.

Committing twice is harmless (inventory's rule), so Retry may run it again.
"""

from __future__ import annotations

from typing import Any

from functions.handler import field, inject_fault, lambda_handler
from functions.runtime import FunctionRuntime
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

NAME = "commit_stock"


async def step(event: dict[str, Any], runtime: FunctionRuntime) -> dict[str, Any]:
    order = field(event, "order")
    reservation = field(event, "reservation")
    inject_fault(NAME, order)
    reply = await runtime.call(
        "inventory",
        inventory_pb2_grpc.InventoryServiceStub,
        "CommitReservation",
        inventory_pb2.CommitReservationRequest(name=reservation),
    )
    state = inventory_pb2.Reservation.State.Name(reply.reservation.state)
    return {"reservation": reservation, "state": state}


handler = lambda_handler(NAME, step)
