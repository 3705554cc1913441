"""The composition root shared by every service's ``__main__``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from mesh import loops
from mesh.channels import ServiceChannels, channels_to
from mesh.clients import Clients
from mesh.config import ConfigError, Settings, load_settings
from mesh.db import Database
from mesh.dbsecret import password_source
from mesh.discovery import Registry, RegistryError, StaticRegistry, create_registry
from mesh.logs import configure_logging
from mesh.metrics import Metrics, MetricsServer
from mesh.registration import Registration
from mesh.server import MeshServer, ServiceUnit, run_service
from mesh.telemetry import Telemetry
from mesh.topology import Topology, TopologyError, load_topology

__all__ = [
    "build_channels",
    "build_registry",
    "build_server",
    "main",
    "migrations_dir",
    "open_database",
    "principal_senders",
    "serve",
    "wire_discovery",
]

log = logging.getLogger("mesh.service")


def migrations_dir(package_file: str) -> Path:
    """A service keeps its Alembic scripts in ``migrations/`` beside its package."""
    return Path(package_file).resolve().parent / "migrations"


def build_server(
    settings: Settings,
    unit: ServiceUnit,
    topology: Topology | None = None,
    *,
    telemetry: Telemetry | None = None,
    metrics: Metrics | None = None,
) -> MeshServer:
    senders = None
    if settings.tls is not None and settings.tls.client_auth:
        # Mutual TLS names every caller: only the front door, and the services that
        # call on a user's behalf (forwards_principal), may speak for a user.
        topology = topology or load_topology()
        senders = principal_senders(topology)
    return MeshServer(
        unit,
        host=settings.host,
        port=settings.port,
        shutdown_grace=settings.shutdown_grace,
        lame_duck=settings.shutdown_lame_duck,
        max_message_bytes=settings.max_message_bytes,
        access_log=settings.access_log,
        tls=settings.tls,
        principal_senders=senders,
        telemetry=telemetry,
        metrics=metrics,
        replica=settings.telemetry.replica,
    )


def principal_senders(topology: Topology) -> frozenset[str]:
    """The peers whose principal metadata is believed under mutual TLS."""
    return frozenset(
        s.name for s in topology.services.values() if s.protocol == "http" or s.forwards_principal
    )


def build_registry(settings: Settings, topology: Topology | None = None) -> Registry:
    topology = topology or load_topology()
    if settings.registry == "static" and settings.static_endpoints is None:
        # A service that calls no one needs no addresses (load_settings checked that).
        return StaticRegistry({})
    return create_registry(
        settings.registry,
        namespace=settings.cloudmap_namespace,
        endpoint_url=settings.cloudmap_endpoint,
        region=settings.aws_region,
        static_spec=settings.static_endpoints,
        path=settings.registry_file,
        services=list(topology.services),
        ttl=settings.registry_ttl,
        heartbeat_interval=min(1.0, settings.registry_ttl / 3),
    )


def build_channels(
    settings: Settings,
    registry: Registry,
    services: Iterable[str],
    topology: Topology | None = None,
) -> ServiceChannels:
    """Channels to ``services`` (names in services.yaml), retrying only idempotent methods.

    With ``settings.tls`` they speak TLS and expect each service's certificate
    to carry its Cloud Map name (``catalog.shop.local``).
    """
    return channels_to(
        registry,
        services,
        topology or load_topology(),
        tls=settings.tls,
        poll_interval=settings.discovery_poll,
        full_refresh_interval=settings.discovery_refresh,
        max_message_bytes=settings.max_message_bytes,
    )


class _RegistryLifecycle:
    """Closes the registry after everything that uses it stopped."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def start(self, server: MeshServer) -> None:
        return None

    async def stop(self) -> None:
        await self.registry.close()


def wire_discovery(
    settings: Settings,
    build: Callable[[Clients | None], ServiceUnit],
    topology: Topology | None = None,
) -> ServiceUnit:
    """A unit with its dependencies reached through the registry, and itself registered."""
    topology = topology or load_topology()
    registry = build_registry(settings, topology)
    clients = None
    if settings.dependencies:
        channels = build_channels(settings, registry, settings.dependencies, topology)
        clients = Clients(channels, call_timeout=settings.call_timeout)
    unit = build(clients)
    unit.lifecycles = [_RegistryLifecycle(registry), *unit.lifecycles]
    if clients is not None:
        unit.lifecycles = [*unit.lifecycles, clients]
    if settings.register:
        registration = Registration(
            registry, settings.service, settings.advertise_host, attributes={"zone": settings.zone}
        )
        unit.announcers = [*unit.announcers, registration]
    return unit


BuildUnit = Callable[[Settings, Database, Clients | None], ServiceUnit]
S = TypeVar("S")


def open_database(settings: Settings, migrations: Path) -> Database:
    """The service's SQL database (``store: sql``), migrated from ``migrations`` at start."""
    return Database(
        settings.database_url,
        settings.service,
        migrations,
        password=password_source(settings),
        ssl_context=settings.db_tls.context() if settings.db_tls else None,
        pre_ping=settings.db_pre_ping,
    )


def main(service: str, build_unit: BuildUnit, migrations: Path) -> None:
    """Entry point of ``python -m services.<name>`` for a service with a SQL store."""
    serve(service, lambda settings: open_database(settings, migrations), build_unit)


def serve(
    service: str,
    open_store: Callable[[Settings], S],
    build_unit: Callable[[Settings, S, Clients | None], ServiceUnit],
) -> None:
    """Entry point of ``python -m services.<name>``: settings, logging, store, serve, exit code.

    ``open_store`` makes the service's store from the settings (a
    :class:`~mesh.db.Database`, a :mod:`mesh.kv` store, or None); the unit
    lists it among its lifecycles. A store it cannot make is a configuration
    error (exit 2).
    """
    try:
        settings = load_settings(service)
    except (ConfigError, TopologyError) as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    observe = settings.telemetry
    configure_logging(service, settings.log_level, observe.replica)
    telemetry = Telemetry.from_settings(observe)
    metrics = Metrics(service, observe.replica)
    try:
        store = open_store(settings)
        unit = wire_discovery(settings, lambda clients: build_unit(settings, store, clients))
    except (ValueError, RegistryError) as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    if observe.metrics_port is not None:
        # First of all, so the endpoint answers (mesh_serving 0) while migrations run.
        unit.lifecycles = [
            MetricsServer(metrics, observe.metrics_host, observe.metrics_port),
            *unit.lifecycles,
        ]
    server = build_server(settings, unit, telemetry=telemetry, metrics=metrics)
    try:
        code = loops.run(run_service(server), settings.event_loop)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        code = 1
    finally:
        telemetry.shutdown()
    sys.exit(code)
