"""Service discovery: a registry with Cloud Map's semantics, and an endpoint cache.

- :class:`Registry` is the port; back ends: ``local`` (a shared file, the
  default on one machine), ``cloudmap`` (AWS Cloud Map), ``static``
  (addresses from configuration), ``memory`` (one process, tests).
- :class:`EndpointWatcher` keeps a service's endpoint set current and cheap.
- :func:`create_registry` builds a back end from plain settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from mesh.discovery.cloudmap import CloudMapRegistry
from mesh.discovery.local import LocalRegistry, default_path
from mesh.discovery.memory import MemoryRegistry
from mesh.discovery.model import (
    AWS_INIT_HEALTH_STATUS,
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    Endpoint,
    HealthFilter,
    HealthStatus,
    Instance,
    to_endpoint,
    to_endpoints,
)
from mesh.discovery.registry import (
    InstanceNotFound,
    Registry,
    RegistryError,
    RegistryThrottled,
    RegistryUnavailable,
    ServiceNotFound,
)
from mesh.discovery.static import StaticRegistry, StaticSpecError, parse_static_spec
from mesh.discovery.watcher import EndpointWatcher, backoff_delay

__all__ = [
    "AWS_INIT_HEALTH_STATUS",
    "AWS_INSTANCE_IPV4",
    "AWS_INSTANCE_PORT",
    "KINDS",
    "CloudMapRegistry",
    "Endpoint",
    "EndpointWatcher",
    "HealthFilter",
    "HealthStatus",
    "Instance",
    "InstanceNotFound",
    "LocalRegistry",
    "MemoryRegistry",
    "Registry",
    "RegistryError",
    "RegistryThrottled",
    "RegistryUnavailable",
    "ServiceNotFound",
    "StaticRegistry",
    "StaticSpecError",
    "backoff_delay",
    "create_registry",
    "default_path",
    "parse_static_spec",
    "to_endpoint",
    "to_endpoints",
]

KINDS = ("local", "cloudmap", "static", "memory")


def create_registry(
    kind: str = "local",
    *,
    namespace: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    static_spec: str | None = None,
    path: str | os.PathLike[str] | None = None,
    services: Iterable[str] | None = None,
    ttl: float = 3.0,
    heartbeat_interval: float = 1.0,
) -> Registry:
    """Build the registry named by ``kind`` (``MESH_REGISTRY``); fails loudly on bad input.

    - ``local``: ``path`` (``MESH_REGISTRY_FILE``, default :func:`default_path`),
      ``ttl`` and ``heartbeat_interval``; ``services`` limits the known names.
    - ``cloudmap``: ``namespace`` (``MESH_CLOUDMAP_NAMESPACE``, required),
      ``endpoint_url`` (``MESH_CLOUDMAP_ENDPOINT``), ``region``.
    - ``static``: ``static_spec`` (``MESH_STATIC_ENDPOINTS``, required).
    - ``memory``: one process only; ``services`` as for local.

    >>> create_registry("static", static_spec="catalog=127.0.0.1:50051")  # doctest: +ELLIPSIS
    <mesh.discovery.static.StaticRegistry object at ...>
    """
    if kind == "local":
        return LocalRegistry(
            path, services=services, ttl=ttl, heartbeat_interval=heartbeat_interval
        )
    if kind == "cloudmap":
        if not namespace:
            raise ValueError("registry 'cloudmap' needs a namespace (MESH_CLOUDMAP_NAMESPACE)")
        return CloudMapRegistry(namespace, endpoint_url=endpoint_url or None, region=region)
    if kind == "static":
        if not static_spec:
            raise ValueError("registry 'static' needs endpoints (MESH_STATIC_ENDPOINTS)")
        return StaticRegistry(static_spec)
    if kind == "memory":
        return MemoryRegistry(services)
    raise ValueError(f"unknown registry kind {kind!r} (MESH_REGISTRY): one of {', '.join(KINDS)}")
