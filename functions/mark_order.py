"""Moves an order to the status the workflow reached (PAID, FULFILLED, EXPIRED, ...).

Orders owns the rules (which moves are allowed, the refund of a paid order that
fails or expires); moving an order to the status it already has is a no-op, so
a retried invocation is harmless.
"""

from __future__ import annotations

from typing import Any

from functions.errors import BadEvent
from functions.handler import field, inject_fault, lambda_handler
from functions.runtime import FunctionRuntime
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

NAME = "mark_order"
STATUSES = ("PAID", "FULFILLED", "EXPIRED", "CANCELLED", "FAILED")


async def step(event: dict[str, Any], runtime: FunctionRuntime) -> dict[str, Any]:
    order = field(event, "order")
    status = event.get("status")
    if status not in STATUSES:
        raise BadEvent(f"event.status: one of {', '.join(STATUSES)}")
    inject_fault(NAME, order)
    reply = await runtime.call(
        "orders",
        orders_pb2_grpc.OrdersServiceStub,
        "AdvanceOrder",
        orders_pb2.AdvanceOrderRequest(
            name=order, status=orders_pb2.Order.Status.Value(f"STATUS_{status}")
        ),
    )
    return {"order": reply.order.name, "status": orders_pb2.Order.Status.Name(reply.order.status)}


handler = lambda_handler(NAME, step)
