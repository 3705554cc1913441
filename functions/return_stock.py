"""Compensation: an order's stock goes back, whether its reservation was committed or not.

ReturnReservation releases an active reservation and puts a committed one back
on hand; twice is harmless, so the compensation may be retried.
"""

from __future__ import annotations

from typing import Any

from functions.handler import field, inject_fault, lambda_handler
from functions.runtime import FunctionRuntime
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

NAME = "return_stock"


async def step(event: dict[str, Any], runtime: FunctionRuntime) -> dict[str, Any]:
    order = field(event, "order")
    reservation = field(event, "reservation")
    inject_fault(NAME, order)
    reply = await runtime.call(
        "inventory",
        inventory_pb2_grpc.InventoryServiceStub,
        "ReturnReservation",
        inventory_pb2.ReturnReservationRequest(name=reservation),
    )
    state = inventory_pb2.Reservation.State.Name(reply.reservation.state)
    return {"reservation": reservation, "state": state}


handler = lambda_handler(NAME, step)
