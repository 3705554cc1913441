"""Real services on loopback, in this process, for integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio
from sqlalchemy import text

from mesh.config import Settings, load_settings
from mesh.db import Database
from mesh.server import MeshServer, ServiceUnit
from mesh.service import build_server, migrations_dir, wire_discovery
from mesh.tls import TARGET_NAME_OVERRIDE, channel_credentials, server_name
from mesh.topology import load_topology
from services.catalog import app as catalog_app
from services.inventory import app as inventory_app
from services.orders import app as orders_app
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2_grpc

APPS: dict[str, Any] = {"catalog": catalog_app, "inventory": inventory_app, "orders": orders_app}
TABLES = {
    "catalog": ["products"],
    "inventory": ["reservation_lines", "reservations", "stock"],
    "orders": ["order_lines", "orders"],
}


# Static registries stand for deployed runs, which need their own page-token key.
PAGE_TOKEN_KEY = "integration-tests-page-token-key-0123456789"


def settings_for(service: str, db_url: str, **env: str) -> Settings:
    return load_settings(
        service,
        environ={
            "MESH_REGISTRY": "static",
            "MESH_PAGE_TOKEN_KEY": PAGE_TOKEN_KEY,
            "MESH_PORT": "0",
            f"{service.upper()}_DATABASE_URL": db_url,
            "MESH_WATCH_POLL_SECONDS": "0.2",
            # The order mechanics (reserve, write, settle) under the legacy lifecycle;
            # tests/integration/workflow runs orders with the workflow interpreter.
            "MESH_WORKFLOW": "off",
            **env,
        },
    )


async def reset(database: Database, service: str) -> None:
    """Empty the service's tables (PostgreSQL databases live for the whole session)."""
    if database.engine.dialect.name != "postgresql":
        return
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES[service])} CASCADE"))


@dataclass
class Running:
    server: MeshServer
    store: object  # the service's Database, or its DynamoDB store
    channel: aio.Channel
    settings: Settings

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def database(self) -> Database:
        assert isinstance(self.store, Database), f"{self.settings.service} runs on another store"
        return self.store


def _test_channel(address: str, settings: Settings) -> aio.Channel:
    """The test's own channel: over TLS (as the service itself) when the service uses TLS."""
    if settings.tls is None:
        return aio.insecure_channel(address)
    name = server_name(settings.service, load_topology().namespace)
    return aio.secure_channel(
        address, channel_credentials(settings.tls), options=[(TARGET_NAME_OVERRIDE, name)]
    )


@asynccontextmanager
async def serve(
    service: str,
    db_url: str,
    *,
    env: Mapping[str, str] | None = None,
    unit: ServiceUnit | None = None,
    fresh: bool = True,
) -> AsyncIterator[Running]:
    settings = settings_for(service, db_url, **{"MESH_REGISTER": "false", **dict(env or {})})
    app = APPS[service]
    store: Any
    if settings.store == "sql":
        store = Database(settings.database_url, service, migrations_dir(app.__file__))
    else:  # the catalog on DynamoDB: the app opens it as in production
        store = app.open_store(settings)
    if unit is None:
        unit = wire_discovery(settings, lambda clients: app.build_unit(settings, store, clients))
    server = build_server(settings, unit)
    await server.start()
    if fresh and isinstance(store, Database):
        await reset(store, service)
    channel = _test_channel(server.address, settings)
    try:
        yield Running(server, store, channel, settings)
    finally:
        await channel.close(None)
        await server.stop(1.0)


def db_url_for(kind: str, tmp: Path, service: str, pg_url: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / (service + '.db')}"
    assert pg_url is not None
    return pg_url


@dataclass
class Shop:
    """The three services wired together, with async stubs."""

    catalog: Running
    inventory: Running
    orders: Running

    @property
    def catalog_stub(self) -> catalog_pb2_grpc.CatalogServiceAsyncStub:
        return catalog_pb2_grpc.CatalogServiceStub(self.catalog.channel)  # type: ignore[return-value]

    @property
    def inventory_stub(self) -> inventory_pb2_grpc.InventoryServiceAsyncStub:
        return inventory_pb2_grpc.InventoryServiceStub(self.inventory.channel)  # type: ignore[return-value]

    @property
    def orders_stub(self) -> orders_pb2_grpc.OrdersServiceAsyncStub:
        return orders_pb2_grpc.OrdersServiceStub(self.orders.channel)  # type: ignore[return-value]


@asynccontextmanager
async def shop(
    kind: str,
    tmp: Path,
    pg_url: str | None,
    *,
    every_env: Mapping[str, str] | None = None,
    catalog_env: Mapping[str, str] | None = None,
    **orders_env: str,
) -> AsyncIterator[Shop]:
    """The three services; ``every_env`` goes to each of them, ``catalog_env`` to catalog
    (``CATALOG_STORE=dynamodb``, say), ``orders_env`` to orders."""
    common = dict(every_env or {})
    catalog_url = db_url_for(kind, tmp, "catalog", pg_url)
    async with (
        serve("catalog", catalog_url, env={**common, **(catalog_env or {})}) as catalog,
        serve("inventory", db_url_for(kind, tmp, "inventory", pg_url), env=common) as inventory,
    ):
        env = {
            **common,
            "MESH_REGISTRY": "static",
            "MESH_STATIC_ENDPOINTS": f"catalog={catalog.address};inventory={inventory.address}",
            **orders_env,
        }
        async with serve("orders", db_url_for(kind, tmp, "orders", pg_url), env=env) as orders:
            yield Shop(catalog, inventory, orders)
