"""The service list: one file (``services.yaml``) read by everything that needs it.

The local runner, the gateway, the clients and the Terraform checks all call
:func:`load_topology`; nothing else names ports or dependencies.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "STORE_KINDS",
    "FunctionSpec",
    "Scaling",
    "ServiceSpec",
    "StoreKind",
    "Topology",
    "TopologyError",
    "load_topology",
    "topology_path",
]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_FIELDS = {
    "module",
    "grpc_service",
    "port",
    "protocol",
    "depends_on",
    "replicas",
    "store",
    "env",
    "forwards_principal",
    "scaling",
}
StoreKind = Literal["sql", "redis", "dynamodb", "none"]
# What a service keeps its state in: PostgreSQL (SQLite locally), ElastiCache
# (Redis; an embedded store locally when no Redis answers), DynamoDB, or nothing.
STORE_KINDS: tuple[StoreKind, ...] = ("sql", "redis", "dynamodb", "none")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}\Z")
# services.yaml is plain configuration in git and in the task definition: secrets go
# through ECS secrets (Secrets Manager), so names that look like one are refused.
_SECRET_LIKE = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE")
_ENV_MAX = 32
# A function's name is a Python module (functions/<name>.py) and part of a Terraform
# template variable (${fn_<name>}), so no hyphens.
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
_FUNCTION_FIELDS = {"depends_on", "timeout_seconds", "memory_mb", "reserved_concurrency"}
# Lambda's own bounds: 1-900 s, 128-10240 MB.
_FUNCTION_TIMEOUT = (1, 900)
_FUNCTION_MEMORY = (128, 10240)


class TopologyError(ValueError):
    """services.yaml is missing or malformed; the message names the offending key."""


@dataclass(frozen=True, slots=True)
class Scaling:
    """ECS target tracking for a service (docs/capacity.md derives the numbers)."""

    cpu_target: int  # average CPU utilisation aimed for, percent
    max_tasks: int


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    module: str
    port: int
    protocol: Literal["grpc", "http"]
    depends_on: tuple[str, ...]
    replicas: int
    store: StoreKind
    grpc_service: str | None = None
    # Plain environment of this service's processes (scripts/run and the ECS task).
    env: tuple[tuple[str, str], ...] = ()
    # Calls other services on behalf of its caller (passes the principal on); with
    # mutual TLS, services believe principal metadata only from these and the gateway.
    forwards_principal: bool = False
    # Autoscaling on ECS; None: the Terraform defaults.
    scaling: Scaling | None = None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A Lambda handler of the workflow (``functions/<name>.py``); a mesh client, not a service."""

    name: str
    # Services it calls; on AWS its security group reaches exactly these.
    depends_on: tuple[str, ...]
    timeout_seconds: int = 10
    memory_mb: int = 256
    # None: no reservation (the account's shared pool). A number caps how many run at
    # once, which protects the services it calls from a burst of executions.
    reserved_concurrency: int | None = None

    @property
    def module(self) -> str:
        return f"functions.{self.name}"


@dataclass(frozen=True, slots=True)
class Topology:
    namespace: str
    services: dict[str, ServiceSpec]
    # The workflow's Lambda functions (services.yaml's ``functions:``), by name.
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise TopologyError(f"unknown service {name!r} (known: {known})") from None

    def start_order(self) -> list[ServiceSpec]:
        """Services with their dependencies before them."""
        done: dict[str, ServiceSpec] = {}

        def visit(spec: ServiceSpec) -> None:
            if spec.name not in done:
                for dep in spec.depends_on:
                    visit(self.services[dep])
                done[spec.name] = spec

        for spec in self.services.values():
            visit(spec)
        return list(done.values())


def topology_path() -> Path:
    """``MESH_SERVICES_FILE``, else ``services.yaml`` in the working directory or the repository."""
    explicit = os.environ.get("MESH_SERVICES_FILE")
    if explicit:
        return Path(explicit)
    candidates = [
        Path.cwd() / "services.yaml",
        Path(__file__).resolve().parents[1] / "services.yaml",
        Path(__file__).resolve().parent / "_data" / "services.yaml",
    ]
    return next((p for p in candidates if p.is_file()), candidates[0])


def load_topology(path: Path | None = None) -> Topology:
    path = path or topology_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopologyError(f"service list not found: {path} (set MESH_SERVICES_FILE)") from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML: {exc}") from None
    return parse_topology(raw, source=str(path))


def parse_topology(raw: Any, source: str = "services.yaml") -> Topology:
    if not isinstance(raw, dict):
        raise TopologyError(f"{source}: top level must be a mapping")
    namespace = raw.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise TopologyError(f"{source}: 'namespace' must be a non-empty string")
    entries = raw.get("services")
    if not isinstance(entries, dict) or not entries:
        raise TopologyError(f"{source}: 'services' must be a non-empty mapping")
    services = {name: _parse_service(name, body, source) for name, body in entries.items()}
    ports = [s.port for s in services.values()]
    if len(set(ports)) != len(ports):
        raise TopologyError(f"{source}: two services share a port: {sorted(ports)}")
    for spec in services.values():
        for dep in spec.depends_on:
            if dep not in services:
                raise TopologyError(f"{source}: services.{spec.name}.depends_on: unknown {dep!r}")
    _reject_cycles(services, source)
    functions = _parse_functions(raw.get("functions", {}), services, source)
    return Topology(namespace=namespace, services=services, functions=functions)


def _parse_functions(
    raw: Any, services: dict[str, ServiceSpec], source: str
) -> dict[str, FunctionSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TopologyError(f"{source}: 'functions' must be a mapping of name: settings")
    functions = {}
    for name, body in raw.items():
        where = f"{source}: functions.{name}"
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise TopologyError(f"{where}: name must match {_FUNCTION_NAME.pattern}")
        if not isinstance(body, dict):
            raise TopologyError(f"{where}: must be a mapping")
        unknown = set(body) - _FUNCTION_FIELDS
        if unknown:
            raise TopologyError(f"{where}: unknown keys {sorted(unknown)}")
        deps = body.get("depends_on")
        if not isinstance(deps, list) or not deps or not all(isinstance(d, str) for d in deps):
            raise TopologyError(f"{where}.depends_on: must be a non-empty list of service names")
        for dep in deps:
            spec = services.get(dep)
            if spec is None or spec.protocol != "grpc":
                raise TopologyError(f"{where}.depends_on: {dep!r} is not a grpc service")
        if len(set(deps)) != len(deps):
            raise TopologyError(f"{where}.depends_on: a service is named twice")
        timeout = _bounded_int(
            body.get("timeout_seconds", 10), _FUNCTION_TIMEOUT, f"{where}.timeout_seconds"
        )
        memory = _bounded_int(body.get("memory_mb", 256), _FUNCTION_MEMORY, f"{where}.memory_mb")
        concurrency = body.get("reserved_concurrency")
        if concurrency is not None:
            concurrency = _bounded_int(concurrency, (1, 1000), f"{where}.reserved_concurrency")
        functions[name] = FunctionSpec(name, tuple(deps), timeout, memory, concurrency)
    return functions


def _bounded_int(value: Any, bounds: tuple[int, int], where: str) -> int:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise TopologyError(f"{where}: must be an integer in {low}..{high}")
    return value


def _parse_service(name: Any, body: Any, source: str) -> ServiceSpec:
    where = f"{source}: services.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise TopologyError(f"{where}: name must match {_NAME.pattern}")
    if not isinstance(body, dict):
        raise TopologyError(f"{where}: must be a mapping")
    unknown = set(body) - _FIELDS
    if unknown:
        raise TopologyError(f"{where}: unknown keys {sorted(unknown)}")
    module = body.get("module")
    if not isinstance(module, str) or not _MODULE.match(module):
        raise TopologyError(f"{where}.module: must be a dotted Python module name")
    port = body.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise TopologyError(f"{where}.port: must be an integer in 1..65535")
    protocol = body.get("protocol", "grpc")
    if protocol not in ("grpc", "http"):
        raise TopologyError(f"{where}.protocol: must be grpc or http")
    deps = body.get("depends_on", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise TopologyError(f"{where}.depends_on: must be a list of service names")
    replicas = body.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 1 <= replicas <= 16:
        raise TopologyError(f"{where}.replicas: must be an integer in 1..16")
    store = body.get("store", "none")
    if store not in STORE_KINDS:
        hint = " (true is now 'sql', false 'none')" if isinstance(store, bool) else ""
        raise TopologyError(f"{where}.store: must be one of {', '.join(STORE_KINDS)}{hint}")
    forwards = body.get("forwards_principal", False)
    if not isinstance(forwards, bool):
        raise TopologyError(f"{where}.forwards_principal: must be true or false")
    if forwards and not deps:
        raise TopologyError(f"{where}.forwards_principal: it calls no one (depends_on is empty)")
    grpc_service = body.get("grpc_service")
    if protocol == "grpc" and (
        not isinstance(grpc_service, str) or not _MODULE.match(grpc_service)
    ):
        raise TopologyError(f"{where}.grpc_service: must be the full name of a proto service")
    if protocol == "http" and grpc_service is not None:
        raise TopologyError(f"{where}.grpc_service: only grpc services serve one")
    env = _parse_env(body.get("env", {}), f"{where}.env")
    scaling = _parse_scaling(body.get("scaling"), replicas, f"{where}.scaling")
    return ServiceSpec(
        name,
        module,
        port,
        protocol,
        tuple(deps),
        replicas,
        store,
        grpc_service,
        env,
        forwards,
        scaling,
    )


def _parse_scaling(raw: Any, replicas: int, where: str) -> Scaling | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"cpu_target", "max_tasks"}:
        raise TopologyError(f"{where}: must be a mapping of cpu_target and max_tasks")
    target, most = raw["cpu_target"], raw["max_tasks"]
    # The bounds the ecs_service module's variables accept.
    if not isinstance(target, int) or isinstance(target, bool) or not 10 <= target <= 90:
        raise TopologyError(f"{where}.cpu_target: must be an integer percentage in 10..90")
    if not isinstance(most, int) or isinstance(most, bool) or not replicas <= most <= 100:
        raise TopologyError(f"{where}.max_tasks: must be an integer in replicas..100")
    return Scaling(target, most)


def _parse_env(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise TopologyError(f"{where}: must be a mapping of NAME: value")
    if len(raw) > _ENV_MAX:
        raise TopologyError(f"{where}: at most {_ENV_MAX} variables")
    env = []
    for name, value in raw.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise TopologyError(f"{where}: {name!r} is not a variable name ({_ENV_NAME.pattern})")
        if _SECRET_LIKE.search(name):
            raise TopologyError(
                f"{where}.{name}: looks like a secret; secrets come from Secrets Manager, "
                "not services.yaml"
            )
        if not isinstance(value, str) or len(value) > 1024 or not value.isprintable():
            raise TopologyError(f"{where}.{name}: must be a printable string of at most 1024 chars")
        env.append((name, value))
    return tuple(sorted(env))


def _reject_cycles(services: dict[str, ServiceSpec], source: str) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise TopologyError(f"{source}: dependency cycle {' -> '.join([*trail, name])}")
        state[name] = 1
        for dep in services[name].depends_on:
            visit(dep, [*trail, name])
        state[name] = 2

    for name in services:
        visit(name, [])
