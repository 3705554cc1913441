"""Hands the payment wait's task token to orders (the ``.waitForTaskToken`` state).

Orders keeps the token with the order and answers it: ``SendTaskSuccess`` when
the customer pays in time, ``SendTaskFailure`` (``OrderCancelled``) on a cancel.
If the order was paid before the token arrived, orders answers at once. An order
that can no longer be paid (cancelled or expired meanwhile) raises
``OrderClosed``, which ends the wait into the compensation.
"""

from __future__ import annotations

from typing import Any

from functions.handler import field, inject_fault, lambda_handler
from functions.runtime import FunctionRuntime
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

NAME = "await_payment"


async def step(event: dict[str, Any], runtime: FunctionRuntime) -> dict[str, Any]:
    order = field(event, "order")
    token = field(event, "task_token")
    inject_fault(NAME, order)
    reply = await runtime.call(
        "orders",
        orders_pb2_grpc.OrdersServiceStub,
        "AwaitPayment",
        orders_pb2.AwaitPaymentRequest(name=order, task_token=token),
    )
    return {"order": reply.order.name, "status": orders_pb2.Order.Status.Name(reply.order.status)}


handler = lambda_handler(NAME, step)
