"""An in-process registry: the reference semantics, for unit tests and one-process setups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from mesh.discovery.model import (
    AWS_INIT_HEALTH_STATUS,
    HealthFilter,
    HealthStatus,
    Instance,
    filter_instances,
)
from mesh.discovery.registry import (
    DEFAULT_MAX_RESULTS,
    InstanceNotFound,
    ServiceNotFound,
)

__all__ = ["MemoryRegistry", "initial_health"]


def initial_health(attributes: Mapping[str, str]) -> HealthStatus:
    """Cloud Map starts an instance HEALTHY unless ``AWS_INIT_HEALTH_STATUS`` says otherwise."""
    if attributes.get(AWS_INIT_HEALTH_STATUS) == HealthStatus.UNHEALTHY.value:
        return HealthStatus.UNHEALTHY
    return HealthStatus.HEALTHY


class MemoryRegistry:
    """Same contract as the others; state lives in this object only.

    ``services`` lists the services that exist (like a Cloud Map namespace);
    None accepts any name and an unknown service simply has no instances.
    """

    def __init__(self, services: Iterable[str] | None = None) -> None:
        self._known = frozenset(services) if services is not None else None
        self._instances: dict[str, dict[str, Instance]] = {}
        self._revisions: dict[str, int] = {}

    def _check(self, service: str) -> dict[str, Instance]:
        if self._known is not None and service not in self._known:
            raise ServiceNotFound(f"service {service!r} not found")
        return self._instances.setdefault(service, {})

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None:
        instances = self._check(service)
        old = instances.get(instance_id)
        health = old.health if old is not None else initial_health(attributes)
        instances[instance_id] = Instance(instance_id, attributes, health)
        self._revisions[service] = self._revisions.get(service, 0) + 1
        await asyncio.sleep(0)

    async def deregister(self, service: str, instance_id: str) -> None:
        if self._check(service).pop(instance_id, None) is not None:
            self._revisions[service] = self._revisions.get(service, 0) + 1
        await asyncio.sleep(0)

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None:
        instances = self._check(service)
        old = instances.get(instance_id)
        if old is None:
            raise InstanceNotFound(f"instance {instance_id!r} of {service!r} not registered")
        status = HealthStatus.HEALTHY if healthy else HealthStatus.UNHEALTHY
        instances[instance_id] = Instance(instance_id, old.attributes, status)
        await asyncio.sleep(0)

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> list[Instance]:
        instances = list(self._check(service).values())
        await asyncio.sleep(0)
        return filter_instances(instances, health=health, query=query, max_results=max_results)

    async def revision(self, service: str) -> int:
        self._check(service)
        await asyncio.sleep(0)
        return self._revisions.get(service, 0)

    async def close(self) -> None:
        await asyncio.sleep(0)
