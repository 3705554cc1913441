"""Processes the gateway benchmark starts besides ``python -m gateway``: the orders
backend and the naive HTTP proxy.

python -m benchmarks._servers backend <port> <registry_file>
python -m benchmarks._servers naive <port> <backend_port> [defaults]

The backend is the shop's real ``OrdersService`` contract with a canned answer
(no database: the benchmark measures the front, not orders), on the mesh runtime
and registered as ``orders`` in the local registry file, so the gateway finds it
as it finds orders under ``scripts/run``. The naive proxy is what one writes by
hand: FastAPI, a plain ``grpc.aio`` channel to the backend's address,
``json_format`` both ways.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money

__all__ = ["ORDER_ID", "canned_order"]

ORDER_ID = "0b6f0d1e-5c1a-4f7e-9b2a-3d4c5e6f7a8b"
_SKUS = ("mug", "tea-towel", "espresso-cup", "notebook-a5", "enamel-pin")


def canned_order(lines: int = 5) -> orders_pb2.Order:
    """A confirmed order as orders stores it: priced lines, a total, two timestamps."""
    order = orders_pb2.Order(
        name=f"orders/{ORDER_ID}",
        request_id="checkout-7f3a9c2e",
        status=orders_pb2.Order.STATUS_CONFIRMED,
        create_time=Timestamp(seconds=1_764_590_400, nanos=123_456_000),
        update_time=Timestamp(seconds=1_764_590_401, nanos=654_321_000),
    )
    total = 0
    for i in range(lines):
        sku = _SKUS[i % len(_SKUS)] + ("" if i < len(_SKUS) else f"-{i}")
        unit, quantity = 450 + 275 * i, 1 + i % 3
        order.lines.add(
            sku=sku,
            quantity=quantity,
            unit_price=Money(currency_code="EUR", amount_minor=unit),
            line_total=Money(currency_code="EUR", amount_minor=unit * quantity),
        )
        total += unit * quantity
    order.total.CopyFrom(Money(currency_code="EUR", amount_minor=total))
    return order


class CannedOrders(orders_pb2_grpc.OrdersServiceServicer):
    """GetOrder from memory; any other method is UNIMPLEMENTED (the generated default)."""

    def __init__(self) -> None:
        self.reply = orders_pb2.GetOrderResponse(order=canned_order())

    async def GetOrder(self, request: Any, context: Any) -> Any:
        return self.reply


async def backend(port: int, registry_file: Path) -> None:
    from mesh.discovery import LocalRegistry
    from mesh.registration import Registration
    from mesh.server import MeshServer, ServiceUnit

    servicer = CannedOrders()  # type: ignore[abstract]  # only GetOrder is served
    unit = ServiceUnit(
        "orders",
        [orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name],
        lambda s: orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, s),
        announcers=[Registration(LocalRegistry(registry_file), "orders", "127.0.0.1")],
    )
    # Its CPU is not measured; no access log keeps it from competing for the 2 cores.
    server = MeshServer(unit, port=port, access_log=False)
    await server.start()
    await server.wait_for_termination()


def naive_app(backend_port: int) -> Any:
    """What one writes by hand: FastAPI, await the stub, dump the dict."""
    import grpc
    from fastapi import FastAPI  # the bench extra, not a runtime dependency
    from google.protobuf import json_format

    app = FastAPI()
    stubs: dict[str, Any] = {}

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: str) -> Any:
        if "stub" not in stubs:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{backend_port}")
            stubs["stub"] = orders_pb2_grpc.OrdersServiceStub(channel)
        request = orders_pb2.GetOrderRequest(name=f"orders/{order_id}")
        response = await stubs["stub"].GetOrder(request, timeout=15)
        # The gateway prints fields without presence too: the same bytes' worth of JSON.
        return json_format.MessageToDict(response.order, always_print_fields_with_no_presence=True)

    return app


def main() -> None:
    import uvicorn

    role, port = sys.argv[1], int(sys.argv[2])
    if role == "backend":
        asyncio.run(backend(port, Path(sys.argv[3])))
        return
    app = naive_app(int(sys.argv[3]))
    if sys.argv[4:5] == ["defaults"]:
        # `uvicorn app:app` and nothing else: uvloop and httptools when installed, and
        # uvicorn's access log through `logging` at its default level.
        uvicorn.run(app, host="127.0.0.1", port=port)
        return
    # The flags a person tuning it sets, on the terms the gateway runs on in the bench.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
