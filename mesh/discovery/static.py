"""Endpoints from configuration, for the simplest setups.

Format (``MESH_STATIC_ENDPOINTS``)::

    catalog=127.0.0.1:50051,127.0.0.1:50061;inventory=127.0.0.1:50052

Services are separated by ``;``, addresses of one service by ``,``; each
address is ``IPv4:port``. Spaces around separators are ignored. A service
may appear once. Anything else fails at start-up with a message that names
the offending entry.

The registry is read-only: the configuration *is* the registry.
``register``, ``deregister`` and ``set_health`` are accepted and do nothing
(logged once), so a service's life cycle runs unchanged whatever the back end,
as on ECS where something else registers tasks. Every instance is HEALTHY,
its id is its address, and the revision never changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Mapping

from mesh.discovery.model import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    HealthFilter,
    HealthStatus,
    Instance,
    filter_instances,
)
from mesh.discovery.registry import DEFAULT_MAX_RESULTS, ServiceNotFound

__all__ = ["StaticRegistry", "StaticSpecError", "parse_static_spec"]

logger = logging.getLogger("mesh.discovery")

_REVISION = 1


class StaticSpecError(ValueError):
    """The static endpoint specification is malformed; the message says where."""


def _parse_address(service: str, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise StaticSpecError(f"static endpoints: {service}: {text!r} is not IPv4:port")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise StaticSpecError(
            f"static endpoints: {service}: {host!r} is not an IPv4 address"
        ) from None
    if not (port.isascii() and port.isdecimal() and 1 <= int(port) <= 65535):
        raise StaticSpecError(f"static endpoints: {service}: port {port!r} not in 1..65535")
    return host, int(port)


def parse_static_spec(spec: str) -> dict[str, list[Instance]]:
    """Parse the format above into instances per service.

    >>> sorted(parse_static_spec("catalog=127.0.0.1:50051;inventory=127.0.0.1:50052"))
    ['catalog', 'inventory']
    """
    services: dict[str, list[Instance]] = {}
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        name, sep, addresses = (part.strip() for part in entry.partition("="))
        if not sep or not name:
            raise StaticSpecError(f"static endpoints: {entry!r} is not name=address,...")
        if name in services:
            raise StaticSpecError(f"static endpoints: service {name!r} appears twice")
        instances: dict[str, Instance] = {}
        for address in (a.strip() for a in addresses.split(",")):
            if not address:
                continue
            host, port = _parse_address(name, address)
            attributes = {AWS_INSTANCE_IPV4: host, AWS_INSTANCE_PORT: str(port)}
            instances[f"{host}:{port}"] = Instance(
                f"{host}:{port}", attributes, HealthStatus.HEALTHY
            )
        if not instances:
            raise StaticSpecError(f"static endpoints: service {name!r} has no address")
        services[name] = list(instances.values())
    return services


class StaticRegistry:
    """A read-only registry over :func:`parse_static_spec`'s result."""

    def __init__(self, spec: str | Mapping[str, list[Instance]]) -> None:
        self._services = parse_static_spec(spec) if isinstance(spec, str) else dict(spec)
        self._told = False

    def _instances(self, service: str) -> list[Instance]:
        try:
            return self._services[service]
        except KeyError:
            known = ", ".join(sorted(self._services)) or "none"
            raise ServiceNotFound(
                f"service {service!r} not in static endpoints ({known})"
            ) from None

    def _ignore(self, what: str, service: str) -> None:
        if not self._told:
            self._told = True
            logger.info("discovery: static registry ignores %s for %r (read-only)", what, service)

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None:
        self._ignore("register", service)
        await asyncio.sleep(0)

    async def deregister(self, service: str, instance_id: str) -> None:
        self._ignore("deregister", service)
        await asyncio.sleep(0)

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None:
        self._ignore("set_health", service)
        await asyncio.sleep(0)

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> list[Instance]:
        instances = self._instances(service)
        await asyncio.sleep(0)
        return filter_instances(instances, health=health, query=query, max_results=max_results)

    async def revision(self, service: str) -> int:
        self._instances(service)
        await asyncio.sleep(0)
        return _REVISION

    async def close(self) -> None:
        await asyncio.sleep(0)
