"""Any service of services.yaml, served in this process on loopback, on the store it names.

The scaffold's tests use these, so a new service's tests need nothing else:

    async with store_env("carts", "redis", tmp) as env, serve_app("carts", app, env) as running:
        stub = CartsServiceStub(running.channel)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from grpc import aio

from mesh.config import Settings, load_settings
from mesh.server import MeshServer
from mesh.service import build_server, wire_discovery
from mesh.topology import load_topology
from tests.support.mesh import PAGE_TOKEN_KEY
from tests.support.redis import drop_prefix, require_redis, unique_prefix

__all__ = ["RunningApp", "serve_app", "store_env"]


@dataclass
class RunningApp:
    server: MeshServer
    channel: aio.Channel
    settings: Settings
    store: object


@asynccontextmanager
async def store_env(service: str, variant: str, tmp: Path) -> AsyncIterator[dict[str, str]]:
    """Environment that puts ``service`` on one store variant: ``sql`` (SQLite in ``tmp``),
    ``redis`` (the real Redis, a fresh key prefix), ``embedded``, ``dynamodb`` (moto), ``none``."""
    upper = service.upper()
    env = {"MESH_DATA_DIR": str(tmp)}
    if variant == "sql":
        env[f"{upper}_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / (service + '.db')}"
    elif variant == "embedded":
        env[f"{upper}_REDIS_URL"] = "embedded"
    elif variant == "redis":
        url, prefix = require_redis(), unique_prefix()
        env |= {f"{upper}_REDIS_URL": url, "MESH_REDIS_KEY_PREFIX": prefix}
        try:
            yield env
        finally:
            await drop_prefix(url, prefix)
        return
    elif variant == "dynamodb":
        from tests.support.dynamodb import dynamodb_table

        async with dynamodb_table() as (endpoint, table):
            yield env | {
                f"{upper}_DYNAMODB_TABLE": table,
                "MESH_DYNAMODB_ENDPOINT": endpoint,
                "AWS_REGION": "us-east-1",
            }
        return
    yield env


@asynccontextmanager
async def serve_app(
    service: str, app: ModuleType, env: Mapping[str, str]
) -> AsyncIterator[RunningApp]:
    """``app.open_store`` and ``app.build_unit`` served on a free port, as ``__main__`` would."""
    # Dependencies nobody answers for, unless the test names real ones.
    deps = load_topology()[service].depends_on
    nowhere = ";".join(f"{dep}=127.0.0.1:1" for dep in deps)
    settings = load_settings(
        service,
        environ={
            "MESH_REGISTRY": "static",
            **({"MESH_STATIC_ENDPOINTS": nowhere} if deps else {}),
            "MESH_PAGE_TOKEN_KEY": PAGE_TOKEN_KEY,
            "MESH_PORT": "0",
            "MESH_REGISTER": "false",
            "MESH_ACCESS_LOG": "false",
            "MESH_WORKFLOW": "off",
            **env,
        },
    )
    store = app.open_store(settings)
    unit = wire_discovery(settings, lambda clients: app.build_unit(settings, store, clients))
    server = build_server(settings, unit)
    await server.start()
    channel = aio.insecure_channel(server.address)
    try:
        yield RunningApp(server, channel, settings, store)
    finally:
        await channel.close(None)
        await asyncio.shield(server.stop(1.0))
