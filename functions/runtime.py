"""The functions' composition root: settings, the registry and one client per process.

Lambda keeps a process warm between invocations, so the channels (and their
endpoint caches) are made on the first invocation and reused; the local worker
(:mod:`functions.local`) shares one runtime between all its invocations the
same way. The settings are the mesh's (``MESH_REGISTRY``,
``MESH_CLOUDMAP_NAMESPACE``, ``MESH_CALL_TIMEOUT_SECONDS``, ``MESH_TLS_*`` ...),
read once with :class:`mesh.config.Env`.

    >>> runtime = FunctionRuntime.from_env("commit_stock")
    >>> reply = await runtime.call("inventory", InventoryServiceStub, "CommitReservation", request)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.errors import from_mesh_error
from mesh.channels import channels_to
from mesh.clients import Clients
from mesh.config import Env, load_tls, parse_url
from mesh.discovery import Registry, create_registry
from mesh.errors import MeshError
from mesh.tls import TlsSettings
from mesh.topology import Topology, load_topology

__all__ = ["LOCAL_WORKER", "FunctionRuntime", "FunctionSettings"]

# The local worker runs every function in one process, so it reaches all their services.
LOCAL_WORKER = "local"


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    function: str
    registry: str
    registry_file: Path
    namespace: str | None
    cloudmap_endpoint: str | None
    region: str | None
    static_endpoints: str | None
    call_timeout: float
    tls: TlsSettings | None

    @classmethod
    def from_env(cls, function: str, environ: Mapping[str, str] | None = None) -> FunctionSettings:
        env = Env(os.environ if environ is None else environ)
        data_dir = Path(env.get("MESH_DATA_DIR", ".data", str)).resolve()
        registry = env.get("MESH_REGISTRY", "local", str)
        if registry not in ("local", "cloudmap", "static"):
            raise ValueError(f"MESH_REGISTRY={registry!r}: one of local, cloudmap, static")
        timeout = env.get("MESH_CALL_TIMEOUT_SECONDS", 5.0, float)
        if not 0 < timeout <= 60:
            raise ValueError("MESH_CALL_TIMEOUT_SECONDS must be in (0, 60]")
        return cls(
            function=function,
            registry=registry,
            registry_file=Path(env.get("MESH_REGISTRY_FILE", str(data_dir / "registry.json"), str)),
            namespace=env.raw("MESH_CLOUDMAP_NAMESPACE"),
            cloudmap_endpoint=env.get("MESH_CLOUDMAP_ENDPOINT", None, parse_url),
            region=env.raw("AWS_REGION") or env.raw("AWS_DEFAULT_REGION"),
            static_endpoints=env.raw("MESH_STATIC_ENDPOINTS"),
            call_timeout=timeout,
            tls=load_tls(environ),
        )


class FunctionRuntime:
    """Channels to the services the functions call (their ``depends_on``), started lazily."""

    def __init__(
        self,
        settings: FunctionSettings,
        topology: Topology | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings
        topology = topology or load_topology()
        spec = topology.functions.get(settings.function)
        if spec is not None:
            names = sorted(spec.depends_on)  # what its security group lets it reach
        elif settings.function == LOCAL_WORKER:
            names = sorted({dep for f in topology.functions.values() for dep in f.depends_on})
        else:
            raise ValueError(f"{settings.function!r} is not a function in services.yaml")
        self.registry = registry or create_registry(
            settings.registry,
            namespace=settings.namespace,
            endpoint_url=settings.cloudmap_endpoint,
            region=settings.region,
            static_spec=settings.static_endpoints,
            path=settings.registry_file,
            services=list(topology.services),
        )
        self.channels = channels_to(
            self.registry, names, topology, tls=settings.tls, close_registry=registry is None
        )
        self.clients = Clients(self.channels, call_timeout=settings.call_timeout)
        self._started = False

    @classmethod
    def from_env(cls, function: str) -> FunctionRuntime:
        return cls(FunctionSettings.from_env(function))

    async def start(self) -> None:
        if not self._started:
            await self.clients.start()
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self.clients.stop()
            self._started = False

    async def call(
        self, service: str, factory: Callable[[Any], Any], rpc: str, request: Any
    ) -> Any:
        """``rpc`` of ``service`` (a stub made by ``factory``); a failure becomes the
        workflow's error (retried or compensated), as does a service with no endpoint."""
        await self.start()
        try:
            stub = self.clients.stub(service, factory)
            method: Callable[..., Awaitable[Any]] = getattr(stub, rpc)
            return await self.clients.call(method, request, service=service)
        except MeshError as exc:
            raise from_mesh_error(exc) from None
