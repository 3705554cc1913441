"""The ``Registry`` port and its errors.

Exceptions::

    RegistryError               anything the registry could not do
    ├── RegistryUnavailable     throttled, unreachable, timed out, unreadable:
    │                           transient, callers keep their last good set
    ├── ServiceNotFound         the namespace or service does not exist
    └── InstanceNotFound        set_health on an instance that is not registered

Bad *data* (an instance without a usable address) is not an error: it is
skipped by :func:`mesh.discovery.model.to_endpoint` with a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from mesh.discovery.model import HealthFilter, Instance

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "InstanceNotFound",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "ServiceNotFound",
]

# Cloud Map's own default, made explicit: DiscoverInstances has no pagination.
DEFAULT_MAX_RESULTS = 100


class RegistryError(Exception):
    """The registry could not do what was asked."""


class RegistryUnavailable(RegistryError):
    """Transient: throttling, network or file errors. Keep the last good endpoint set."""


class RegistryThrottled(RegistryUnavailable):
    """The registry refuses for rate (Cloud Map's RequestLimitExceeded): poll less often."""


class ServiceNotFound(RegistryError):
    """The namespace or the service does not exist in the registry."""


class InstanceNotFound(RegistryError):
    """The instance is not registered."""


@runtime_checkable
class Registry(Protocol):
    """Cloud Map semantics, whatever the back end.

    - ``register`` of an existing id updates it; ``deregister`` of a missing id
      is a no-op (shutdown must not fail on it).
    - ``revision`` changes when the instance set changes (register,
      deregister, expiry) and *not* on health changes: callers poll it, refetch
      when it moves, and refresh periodically anyway to see health changes.
    - ``set_health`` may take effect late (about 30 s on Cloud Map).
    """

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None: ...

    async def deregister(self, service: str, instance_id: str) -> None: ...

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None: ...

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> list[Instance]: ...

    async def revision(self, service: str) -> int: ...

    async def close(self) -> None: ...
