"""The baseline of ``scripts/bench orders``: the shop's order path in one process.

    python -m benchmarks._monolith <port>

One bare ASGI app on uvicorn (uvloop, httptools, as the gateway runs) serves
``POST /v1/orders``, ``GET /v1/orders/{id}`` and ``GET /v1/products`` with the
services' own servicers and stores (so the same validation, the same SQL and
the same pools as the mesh) wired together in process: where orders calls
catalog or inventory, :class:`LocalClients` calls the other servicer's method
directly, as the mesh would with no network in between. What the mesh does
per request, this does once too: the gateway's JWT verifier (same settings,
same verified-token cache) and the contract's scope check, the gateway's JSON
parser and printer, one access line per request. What it does not do is the
mesh's tax: gRPC hops, per-hop access lines and metrics, discovery.

Databases: ``CATALOG_DATABASE_URL``, ``INVENTORY_DATABASE_URL`` and
``ORDERS_DATABASE_URL`` (already migrated; the benchmark points them at the
mesh's own databases). Tokens: the gateway's ``MESH_GATEWAY_*`` JWT settings.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from google.protobuf.message import Message

from gateway.auth import AuthError, JwksCache, Verifier
from gateway.errors import http_status_of
from gateway.parse import decode_json, parse_json
from gateway.render import dumps, printer
from gateway.settings import Settings as GatewaySettings
from mesh.access import Rule, rule_for_path
from mesh.accesslog import AccessLog
from mesh.clients import Clients
from mesh.config import load_db_pre_ping
from mesh.context import call_var
from mesh.db import create_engine
from mesh.errors import MeshError
from mesh.paging import PageTokens
from mesh.principal import ANONYMOUS, INTERNAL, Principal, PrincipalError
from services.catalog.servicer import CatalogServicer
from services.catalog.sql import SqlCatalogStore
from services.inventory.servicer import InventoryServicer
from services.inventory.store import InventoryStore
from services.orders.events import OrderEvents
from services.orders.lifecycle import Lifecycle
from services.orders.payments import SandboxPayments
from services.orders.servicer import OrdersServicer
from services.orders.store import OrdersStore
from services.orders.workflow import NoWorkflow
from shop.catalog.v1 import catalog_pb2
from shop.orders.v1 import orders_pb2

__all__ = ["LocalClients", "Monolith"]

CALL_TIMEOUT = 5.0
_ids = itertools.count(1)


@dataclass(slots=True)
class _Call:
    """What :data:`mesh.context.call_var` holds for one request (as the interceptor's does)."""

    request_id: str
    principal: Principal | PrincipalError
    deadline: float
    forward: str | None = None  # no tracing in the monolith

    def time_remaining(self) -> float | None:
        return self.deadline - time.monotonic()


class _LocalStub:
    """A stub whose methods are another servicer's, called in process."""

    def __init__(self, servicer: Any) -> None:
        self._servicer = servicer

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._servicer, name)

        async def call(request: Any, **_: Any) -> Any:
            return await method(request, None)

        setattr(self, name, call)  # made once per method
        return call


class LocalClients(Clients):
    """Orders' view of catalog and inventory when they live in the same process.

    A nested call runs as the mesh's own (:data:`~mesh.principal.INTERNAL`), as a
    peer call without a forwarded principal does in the mesh.
    """

    def __init__(self, servicers: dict[str, Any]) -> None:
        super().__init__(channels=_NoChannels())
        self._local = {name: _LocalStub(s) for name, s in servicers.items()}

    def stub(self, service: str, factory: Callable[[Any], Any]) -> Any:
        return self._local[service]

    async def call(self, method: Callable[..., Awaitable[Any]], request: Any, **_: Any) -> Any:
        outer = call_var.get()
        request_id = outer.request_id if outer is not None else ""
        token = call_var.set(_Call(request_id, INTERNAL, time.monotonic() + CALL_TIMEOUT))
        try:
            return await method(request)
        finally:
            call_var.reset(token)


class _NoChannels:
    def channel(self, service: str) -> Any:
        raise RuntimeError("the monolith has no channels")


Handler = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]
ORDER_PATH = "/v1/orders/"


class Monolith:
    """A bare ASGI app (as the gateway is one): three routes, a lifespan."""

    def __init__(self) -> None:
        settings = GatewaySettings.from_env()
        if settings.jwt is None:
            raise SystemExit("the monolith verifies tokens: set the MESH_GATEWAY_* JWT settings")
        self.keys = JwksCache(settings.jwt)
        self.verifier = Verifier(settings.jwt, self.keys)
        pre_ping = load_db_pre_ping()
        self.engines = {
            # The pool checks connections as the services' do (MESH_DB_PRE_PING).
            name: create_engine(os.environ[f"{name.upper()}_DATABASE_URL"], pre_ping=pre_ping)
            for name in ("catalog", "inventory", "orders")
        }
        page_tokens = PageTokens(os.urandom(32))
        catalog = CatalogServicer(SqlCatalogStore(self.engines["catalog"]), page_tokens)
        inventory = InventoryServicer(InventoryStore(self.engines["inventory"]))
        # The order placement path both sides run: confirmed at once, no fulfilment
        # workflow (the mesh side runs with MESH_WORKFLOW=off too; see benchmarks.orders).
        store = OrdersStore(self.engines["orders"])
        clients = LocalClients({"catalog": catalog, "inventory": inventory})
        events = OrderEvents()
        lifecycle = Lifecycle(store, clients, events, NoWorkflow(), SandboxPayments(), 900.0)
        orders = OrdersServicer(store, clients, page_tokens, events, lifecycle)
        self.access = AccessLog("monolith", logger="monolith.access")
        self.create = _Endpoint(
            "/shop.orders.v1.OrdersService/CreateOrder",
            "/v1/orders",
            orders_pb2.CreateOrderRequest,
            orders.CreateOrder,
            "order",
        )
        self.get = _Endpoint(
            "/shop.orders.v1.OrdersService/GetOrder",
            "/v1/{name=orders/*}",
            orders_pb2.GetOrderRequest,
            orders.GetOrder,
            "order",
        )
        self.list = _Endpoint(
            "/shop.catalog.v1.CatalogService/ListProducts",
            "/v1/products",
            catalog_pb2.ListProductsRequest,
            catalog.ListProducts,
            None,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        body = b""
        more = True
        while more:
            event = await receive()
            body += event.get("body", b"")
            more = event.get("more_body", False)
        authorization = ""
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
        endpoint: _Endpoint | None = None
        message: Message | None = None
        if method == "POST" and path == "/v1/orders":
            endpoint = self.create
        elif method == "GET" and path.startswith(ORDER_PATH):
            endpoint = self.get
            message = orders_pb2.GetOrderRequest(name=path[len("/v1/") :])
        elif method == "GET" and path == "/v1/products":
            endpoint = self.list
            message = catalog_pb2.ListProductsRequest()
        request_id = f"mono-{next(_ids):010x}"
        if endpoint is None:
            status, code, reply = 404, "NOT_FOUND", b'{"code":5,"message":"no route"}'
        else:
            status, code, reply = await endpoint.serve(
                self.verifier, authorization, body, message, request_id
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(reply)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply})
        client = scope.get("client")
        self.access.request(
            method,
            endpoint.route if endpoint else "",
            path,
            status,
            code,
            endpoint.rpc if endpoint else "",
            (time.perf_counter() - started) * 1000,
            request_id,
            client[0] if client else "",
        )

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await self.keys.start()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.keys.stop()
                self.access.close()
                for engine in self.engines.values():
                    await engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Endpoint:
    """One RPC behind one route: token, scope check, JSON in, servicer, JSON out."""

    def __init__(
        self,
        rpc: str,
        route: str,
        request_type: type[Message],
        serve: Callable[[Any, Any], Awaitable[Any]],
        response_field: str | None,
    ) -> None:
        self.rpc = rpc
        self.route = route
        self.rule: Rule = rule_for_path(rpc)
        self.request_type = request_type
        self._serve = serve
        self.response_field = response_field
        self._render: Callable[[Message], Any] | None = None

    async def serve(
        self,
        verifier: Verifier,
        authorization: str,
        body: bytes,
        message: Message | None,
        request_id: str,
    ) -> tuple[int, str, bytes]:
        try:
            principal = ANONYMOUS
            if authorization[:7].lower() == "bearer ":
                principal = await verifier.verify(authorization[7:].strip())
            if not self.rule.allow_anonymous and principal.subject == "":
                return 401, "UNAUTHENTICATED", b'{"code":16,"message":"a token is required"}'
            if not self.rule.scopes <= principal.scopes:
                return 403, "PERMISSION_DENIED", b'{"code":7,"message":"missing scope"}'
            if message is None:
                message = self.request_type()
                parse_json(decode_json(body), message)
            token = call_var.set(_Call(request_id, principal, time.monotonic() + CALL_TIMEOUT))
            try:
                reply = await self._serve(message, None)
            finally:
                call_var.reset(token)
            out = getattr(reply, self.response_field) if self.response_field else reply
            if self._render is None:
                self._render = printer(out.DESCRIPTOR)
            return 200, "OK", dumps(self._render(out))
        except AuthError as exc:
            return 401, "UNAUTHENTICATED", dumps({"code": 16, "message": str(exc)})
        except MeshError as exc:
            number = exc.code.value[0]
            return (
                http_status_of(number),
                exc.code.name,
                dumps({"code": number, "message": exc.message}),
            )


def main() -> None:
    port = int(sys.argv[1])
    # As the gateway runs (gateway.__main__.uvicorn_options), on one worker.
    uvicorn.run(
        Monolith(),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
