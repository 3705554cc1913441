"""From service descriptors to HTTP bindings: every ``google.api.http`` rule of every RPC.

Runs once at start-up; it is the only place that reads the annotations.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from gateway.templates import Template, parse_template
from mesh.access import rule_of

__all__ = ["Binding", "RuleError", "bindings_for", "import_generated", "resolve_services"]


class RuleError(ValueError):
    """An HttpRule that cannot be served; the message names the RPC."""


@dataclass(frozen=True, slots=True)
class Binding:
    """One HTTP method + path template bound to one RPC of one mesh service."""

    backend: str  # mesh service name, what the channel provider dials
    method: MethodDescriptor
    http_method: str
    template: Template
    body: str  # "" (no body), "*" or a top-level request field
    response_body: str  # "" (whole response) or a top-level response field

    @property
    def rpc(self) -> str:
        return self.method.full_name


def import_generated(package: str = "shop") -> None:
    """Import every ``*_pb2`` module under ``package`` so its descriptors reach the pool."""
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)


def resolve_services(services: Mapping[str, str]) -> dict[str, ServiceDescriptor]:
    """Mesh service name → service descriptor from the default pool."""
    pool = descriptor_pool.Default()
    found: dict[str, ServiceDescriptor] = {}
    for backend, full_name in services.items():
        try:
            found[backend] = pool.FindServiceByName(full_name)
        except KeyError:
            raise RuleError(
                f"service {full_name!r} (for {backend!r}) is not in the descriptor pool: "
                "are its generated modules imported?"
            ) from None
    return found


def bindings_for(services: Mapping[str, ServiceDescriptor]) -> list[Binding]:
    out: list[Binding] = []
    for backend, service in services.items():
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue  # not exposed over REST: gRPC clients still reach it
            if not rule_of(method).public:
                continue  # internal: only the mesh calls it, whatever its annotations say
            rule = options.Extensions[annotations_pb2.http]
            out.extend(_expand(backend, method, rule, top=True))
    return out


def _expand(
    backend: str, method: MethodDescriptor, rule: http_pb2.HttpRule, *, top: bool
) -> Iterable[Binding]:
    if not top and rule.additional_bindings:
        raise RuleError(f"{method.full_name}: additional_bindings may not nest")
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise RuleError(f"{method.full_name}: HttpRule has no method/path")
    if pattern == "custom":
        http_method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        http_method, path = pattern.upper(), getattr(rule, pattern)
    try:
        template = parse_template(path)
    except ValueError as exc:
        raise RuleError(f"{method.full_name}: {exc}") from None
    _check_fields(method, template, rule.body, rule.response_body)
    yield Binding(backend, method, http_method, template, rule.body, rule.response_body)
    for extra in rule.additional_bindings:
        yield from _expand(backend, method, extra, top=False)


def _check_fields(method: MethodDescriptor, template: Template, body: str, response: str) -> None:
    request = method.input_type
    if body not in ("", "*") and body not in request.fields_by_name:
        raise RuleError(f"{method.full_name}: body field {body!r} is not in {request.full_name}")
    if response and response not in method.output_type.fields_by_name:
        raise RuleError(
            f"{method.full_name}: response_body {response!r} is not in "
            f"{method.output_type.full_name}"
        )
