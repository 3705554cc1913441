"""Cloud Map's data model, shared by every registry back end.

A *service* in a namespace has *instances*; an instance is an id, string
attributes and a health status. Two reserved attributes carry the address
(``AWS_INSTANCE_IPV4``, ``AWS_INSTANCE_PORT``); callers only ever see
:class:`Endpoint` values built from them by :func:`to_endpoint`, which skips
bad registry data with a log line instead of raising.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "AWS_INIT_HEALTH_STATUS",
    "AWS_INSTANCE_IPV4",
    "AWS_INSTANCE_PORT",
    "Endpoint",
    "HealthFilter",
    "HealthStatus",
    "Instance",
    "filter_instances",
    "to_endpoint",
    "to_endpoints",
]

logger = logging.getLogger("mesh.discovery")

AWS_INSTANCE_IPV4 = "AWS_INSTANCE_IPV4"
AWS_INSTANCE_PORT = "AWS_INSTANCE_PORT"
# Initial custom health of a new instance (HEALTHY when absent), as on Cloud Map.
AWS_INIT_HEALTH_STATUS = "AWS_INIT_HEALTH_STATUS"


class HealthStatus(enum.Enum):
    """An instance's health as the registry reports it."""

    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> HealthStatus:
        """Unknown or missing values become UNKNOWN rather than an error."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class HealthFilter(enum.Enum):
    """DiscoverInstances' ``HealthStatus`` parameter."""

    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    ALL = "ALL"
    # Healthy instances, or every instance when none is healthy (fails open).
    HEALTHY_OR_ELSE_ALL = "HEALTHY_OR_ELSE_ALL"


def _frozen(attributes: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(attributes))


@dataclass(frozen=True, slots=True)
class Instance:
    """One registered instance of a service."""

    instance_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    health: HealthStatus = HealthStatus.UNKNOWN

    def __post_init__(self) -> None:
        # A read-only copy: the caller's dict may change after the fact.
        object.__setattr__(self, "attributes", _frozen(self.attributes))

    def __hash__(self) -> int:
        return hash((self.instance_id, tuple(sorted(self.attributes.items())), self.health))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A usable address of an instance, with its attributes (version, zone...)."""

    host: str
    port: int
    instance_id: str
    attributes: Mapping[str, str] = field(default_factory=dict, compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen(self.attributes))

    def __hash__(self) -> int:
        return hash(
            (self.host, self.port, self.instance_id, tuple(sorted(self.attributes.items())))
        )

    @property
    def address(self) -> str:
        """``host:port``, as a gRPC ``ipv4:`` target takes it."""
        return f"{self.host}:{self.port}"


def _problem(attributes: Mapping[str, str]) -> str | None:
    host = attributes.get(AWS_INSTANCE_IPV4)
    if host is None:
        return f"missing {AWS_INSTANCE_IPV4}"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return f"invalid {AWS_INSTANCE_IPV4} {host!r}"
    port = attributes.get(AWS_INSTANCE_PORT)
    if port is None:
        return f"missing {AWS_INSTANCE_PORT}"
    # isdecimal() rejects signs, spaces and non-ASCII digits that int() would accept.
    if not (isinstance(port, str) and port.isascii() and port.isdecimal()):
        return f"non-numeric {AWS_INSTANCE_PORT} {port!r}"
    if not 1 <= int(port) <= 65535:
        return f"{AWS_INSTANCE_PORT} {port} out of range 1..65535"
    return None


def to_endpoint(instance: Instance, *, service: str = "") -> Endpoint | None:
    """The instance's endpoint, or None (and a warning) when its address is unusable.

    >>> to_endpoint(Instance("i-1", {AWS_INSTANCE_IPV4: "10.0.0.5", AWS_INSTANCE_PORT: "50051"}))
    Endpoint(host='10.0.0.5', port=50051, instance_id='i-1', attributes=mappingproxy({}))
    """
    problem = _problem(instance.attributes)
    if problem is not None:
        logger.warning(
            "discovery: skipping instance %r of service %r: %s",
            instance.instance_id,
            service,
            problem,
            extra={"service": service, "instance_id": instance.instance_id, "reason": problem},
        )
        return None
    extra = {
        k: v
        for k, v in instance.attributes.items()
        if k not in (AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT)
    }
    return Endpoint(
        host=instance.attributes[AWS_INSTANCE_IPV4],
        port=int(instance.attributes[AWS_INSTANCE_PORT]),
        instance_id=instance.instance_id,
        attributes=extra,
    )


def to_endpoints(instances: Iterable[Instance], *, service: str = "") -> tuple[Endpoint, ...]:
    """Usable endpoints in a stable order (registries answer in random order)."""
    found = {e for e in (to_endpoint(i, service=service) for i in instances) if e is not None}
    return tuple(sorted(found, key=lambda e: (e.host, e.port, e.instance_id)))


def filter_instances(
    instances: Iterable[Instance],
    *,
    health: HealthFilter,
    query: Mapping[str, str] | None = None,
    max_results: int,
) -> list[Instance]:
    """DiscoverInstances' filtering, for the back ends that do it themselves.

    Query parameters must all match; HEALTHY_OR_ELSE_ALL looks at health only
    among the instances that match the query, as Cloud Map does.
    """
    matching = [
        i for i in instances if all(i.attributes.get(k) == v for k, v in (query or {}).items())
    ]
    healthy = [i for i in matching if i.health is HealthStatus.HEALTHY]
    if health is HealthFilter.HEALTHY:
        chosen = healthy
    elif health is HealthFilter.UNHEALTHY:
        chosen = [i for i in matching if i.health is HealthStatus.UNHEALTHY]
    elif health is HealthFilter.HEALTHY_OR_ELSE_ALL:
        chosen = healthy or matching
    else:
        chosen = matching
    return chosen[:max_results]
