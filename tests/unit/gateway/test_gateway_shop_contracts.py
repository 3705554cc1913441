"""The real shop contracts load into a route table and a valid OpenAPI document."""

from __future__ import annotations

import grpc
from openapi_spec_validator import validate

from gateway import create_app
from mesh.topology import load_topology


class NoChannels:
    def channel(self, service: str) -> grpc.aio.Channel:
        raise LookupError(service)


def test_shop_services_from_topology_make_routes_and_openapi() -> None:
    app = create_app(NoChannels())
    rpcs = {e.rpc for e in app.router.routes()}
    assert "shop.orders.v1.OrdersService.CancelOrder" in rpcs
    assert "shop.catalog.v1.CatalogService.UpdateProduct" in rpcs
    # Every grpc service of services.yaml, a scaffolded one too.
    topology = load_topology()
    assert app.backends == sorted(n for n, s in topology.services.items() if s.grpc_service)
    validate(app.openapi)  # type: ignore[arg-type]
    assert "/v1/orders/{name}:cancel" in app.openapi["paths"]


def test_shop_routes_match() -> None:
    app = create_app(NoChannels())
    found, _ = app.router.match("POST", "/v1/orders/o-1:cancel")
    assert found is not None
    assert found.route.rpc.endswith("CancelOrder")
    found, _ = app.router.match("GET", "/v1/orders/o-1")
    assert found is not None
    assert found.route.rpc.endswith("GetOrder")
    assert app.router.match("PUT", "/v1/orders")[1] == {"GET", "POST"}
