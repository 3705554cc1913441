"""Who may call an RPC, as the contracts declare it (``shop.api.v1.access``).

The gateway reads it to decide which RPCs get a REST route and which scopes a
token needs; every service reads it again to refuse what the gateway should
never have let through (defence in depth). An RPC without the option is
internal: nothing becomes public by accident.

    rule = rule_of(pool.FindMethodByName("shop.orders.v1.OrdersService.GetOrder"))
    rule.public, rule.scopes   # True, frozenset({"orders.read"})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from shop.api.v1 import access_pb2

__all__ = [
    "INTERNAL",
    "AccessError",
    "Rule",
    "check_services",
    "declared_scopes",
    "rule_for_path",
    "rule_of",
]


class AccessError(ValueError):
    """A contract's access options contradict each other; the message names the RPC."""


@dataclass(frozen=True, slots=True)
class Rule:
    """The access rule of one RPC."""

    public: bool
    scopes: frozenset[str] = frozenset()
    allow_anonymous: bool = False


INTERNAL = Rule(public=False)


def rule_of(method: MethodDescriptor) -> Rule:
    options = method.GetOptions()
    if not options.HasExtension(access_pb2.access):
        return INTERNAL
    access = options.Extensions[access_pb2.access]
    if access.visibility != access_pb2.Access.VISIBILITY_PUBLIC:
        return INTERNAL
    return Rule(True, frozenset(access.scopes), access.allow_anonymous)


def rule_for_path(path: str) -> Rule:
    """The rule of a gRPC method path (``/pkg.Service/Method``); INTERNAL when unknown."""
    service, _, name = path.lstrip("/").partition("/")
    try:
        method = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return INTERNAL
    return rule_of(method)


def declared_scopes(services: Iterable[ServiceDescriptor]) -> dict[str, str]:
    """Every scope the services declare (``shop.api.v1.scope``): name → description."""
    scopes: dict[str, str] = {}
    for service in services:
        for scope in service.GetOptions().Extensions[access_pb2.scope]:
            scopes[scope.name] = scope.description
    return scopes


def check_services(services: Mapping[str, ServiceDescriptor] | Iterable[ServiceDescriptor]) -> None:
    """Refuse contracts whose rules cannot mean what they say (run at start-up and in tests)."""
    found = list(services.values()) if isinstance(services, Mapping) else list(services)
    for service in found:
        declared = declared_scopes([service])
        for method in service.methods:
            options = method.GetOptions()
            access = options.Extensions[access_pb2.access]
            rule = rule_of(method)
            if not rule.public and (access.scopes or access.allow_anonymous):
                raise AccessError(
                    f"{method.full_name}: an internal RPC cannot name scopes or allow anonymous"
                )
            if rule.allow_anonymous and rule.scopes:
                raise AccessError(
                    f"{method.full_name}: allow_anonymous with scopes is contradictory"
                )
            unknown = sorted(rule.scopes - declared.keys())
            if unknown:
                raise AccessError(
                    f"{method.full_name}: scope(s) {', '.join(unknown)} not declared by "
                    f"{service.full_name} (option (shop.api.v1.scope))"
                )
