"""The ECS task Terraform renders for each services.yaml entry runs what scripts/run runs.

A small renderer evaluates the few expression shapes the task definition is
made of (literals, ``tostring(var.x)``, ``each.value.x``, the variables'
defaults) for every entry of services.yaml, and refuses any other shape, so a
new expression means teaching it here, not silently skipping. The rendered
container (command, port, environment, secrets, health check) is compared
with what ``mesh.runner.child_env`` gives the first replica locally, and both
environments are read by the processes' own settings readers.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings as GatewaySettings
from mesh.config import load_settings
from mesh.runner import child_env
from mesh.topology import ServiceSpec, Topology, load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

REGION = "eu-west-1"
ACCOUNT = "123456789012"
# What ECS injects from Secrets Manager, as the application would see it.
SECRET_VALUES = {
    "MESH_DB_HOST": "shop-dev.abc.eu-west-1.rds.amazonaws.com",
    "MESH_DB_PORT": "5432",
    "MESH_DB_NAME": "",  # the service's own name (its connection secret's dbname)
    "MESH_DB_USER": "mesh_admin",
    "MESH_DB_PASSWORD": "from-secrets-manager",
    "MESH_DB_PASSWORD_SECRET": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-1-AbCdEf",
    "MESH_PAGE_TOKEN_KEY": "k" * 64,
}
# Public values the environment computes from the user pool (auth = "cognito").
POOL = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_AbCdEf"
JWT_VALUES = {
    "local.jwt.issuer": POOL,
    "local.jwt.jwks_url": f"{POOL}/.well-known/jwks.json",
    "one(local.jwt.audience)": "webclientid",
    "local.jwt.scope_prefix": "shop/",
    "module.identity[0].authorize_endpoint": "https://shop-dev.auth.example/oauth2/authorize",
    "module.identity[0].token_endpoint": "https://shop-dev.auth.example/oauth2/token",
}
# Set on one side only, on purpose.
LOCAL_ONLY = {"MESH_DATA_DIR", "MESH_REPLICA"}
AWS_ONLY = {
    "MESH_HOST",  # 0.0.0.0: the task's own interface (locally loopback, the default)
    "MESH_REGISTRY",  # cloudmap (locally the registry file, the default)
    "MESH_CLOUDMAP_NAMESPACE",
    "MESH_REGISTER",  # false: ECS registers tasks itself
    "MESH_SHUTDOWN_GRACE_SECONDS",  # the same 10 s as the default, tied to stopTimeout
    "MESH_LOG_LEVEL",
    "AWS_REGION",
    "PYTHONDONTWRITEBYTECODE",  # the root file system is read-only
}


@dataclass
class Container:
    command: list[str]
    port: int
    environment: dict[str, str]
    secrets: set[str]
    health: list[str]


class Renderer:
    """Evaluates the task definition's expressions for one services.yaml entry."""

    def __init__(self, env: Module, module: Module, topology: Topology, spec: ServiceSpec) -> None:
        self.env, self.module, self.topology, self.spec = env, module, topology, spec
        self.entry = next(s.name for s in topology.services.values() if s.protocol == "http")

    def default(self, module: Module, name: str) -> Any:
        if name == "aws_region":
            return REGION
        body = module.variables[name]
        assert "default" in body, f"{module.name}: var.{name} has no default to render"
        return body["default"]

    def env_value(self, text: str) -> Any:
        """An argument of the environment's module call (or a local of the environment)."""
        text = expr(text)
        each = {
            "each.key": self.spec.name,
            "each.value.port": self.spec.port,
            "each.value.module": self.spec.module,
            "each.value.protocol": self.spec.protocol,
        }
        if text in each:
            return each[text]
        if text in JWT_VALUES:
            return JWT_VALUES[text]
        if text == "module.discovery.name":
            return f"{self.default(self.env, 'name')}.{self.topology.namespace}"
        if m := re.fullmatch(r"var\.(\w+)", text):
            return self.default(self.env, m.group(1))
        if m := re.fullmatch(r"tostring\(var\.(\w+) - (\d+)\)", text):
            return str(self.default(self.env, m.group(1)) - int(m.group(2)))
        if m := re.fullmatch(r'each\.value\.protocol == "(\w+)" \? var\.(\w+) : (\d+)', text):
            protocol, name, other = m.groups()
            return self.default(self.env, name) if self.spec.protocol == protocol else int(other)
        if m := re.fullmatch(r'"([^"$]*)"', text):
            return m.group(1)
        raise AssertionError(f"the renderer cannot evaluate {text!r}: teach it this shape")

    def module_value(self, text: str) -> Any:
        """An expression inside modules/ecs_service: its variables come from the call."""
        text = expr(text)
        if m := re.fullmatch(r"tostring\(var\.(\w+)\)", text):
            return str(self.module_value(f"var.{m.group(1)}"))
        if m := re.fullmatch(r"var\.(\w+)", text):
            return self.env_value(self.env.calls["service"][m.group(1)])
        if m := re.fullmatch(r'"([^"$]*)"', text):
            return m.group(1)
        raise AssertionError(f"the renderer cannot evaluate {text!r}: teach it this shape")

    def gateway_env(self) -> dict[str, str]:
        rendered: dict[str, str] = {}
        text = expr(self.env.locals["gateway_env"])
        for key, value in re.findall(r"(MESH_GATEWAY_\w+) = ([^,}]+?)(?=,? ?(?:MESH_|\}))", text):
            value = value.strip()
            if value == 'local.jwt == null ? "none" : "jwt"':
                rendered[key] = "jwt"  # auth = "cognito", the default
            else:
                rendered[key] = str(self.env_value(value))
        return rendered

    def render(self) -> Container:
        call = self.env.calls["service"]
        assert expr(call["environment"]) == (
            "merge(each.value.env, {MESH_LOG_LEVEL = var.log_level}, "
            "each.key == local.entry ? local.gateway_env : {})"
        ), "the environment's shape changed: update the renderer"
        passed = {
            **dict(self.spec.env),
            "MESH_LOG_LEVEL": str(self.default(self.env, "log_level")),
            **(self.gateway_env() if self.spec.name == self.entry else {}),
        }
        own = expr(self.module.locals["environment"])
        assert own.startswith("merge(var.environment, {"), own
        environment = dict(passed)
        for key, value in re.findall(r"(\w+) = (\"[^\"]*\"|tostring\(var\.\w+\)|var\.\w+)", own):
            environment[key] = str(self.module_value(value))
        (task,) = self.module.resources_of("aws_ecs_task_definition").values()
        container = expr(task["container_definitions"])
        assert 'command = ["python", "-m", var.module]' in container
        assert "containerPort = var.port" in container
        probe = expr(self.module.locals["probe"])
        branch = probe.split(" : ")[0 if self.spec.protocol == "grpc" else 1]
        health = [
            str(self.module_value(part)) if part.startswith("var.") else part.strip('"')
            for part in re.findall(r'"[^"]*"|var\.\w+', branch.split("?")[-1])
        ]
        port = str(self.spec.port)
        health = [h.replace("${var.port}", port) for h in health]
        secrets_text = expr(call["secrets"])
        secrets = set()
        if self.spec.store:
            store_part = secrets_text.split(" : {},", 1)[0]
            secrets |= set(re.findall(r"(MESH_\w+) =", store_part))
        if self.spec.protocol == "grpc":
            secrets |= set(re.findall(r'protocol == "grpc" \? \{(MESH_\w+) =', secrets_text))
        return Container(
            ["python", "-m", self.spec.module], self.spec.port, environment, secrets, health
        )


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "services.yaml")


def _rendered(topology: Topology) -> dict[str, Container]:
    env, module = load_module(ENV), load_module(MODULES / "ecs_service")
    return {
        name: Renderer(env, module, topology, spec).render()
        for name, spec in topology.services.items()
    }


def _local(spec: ServiceSpec, data_dir: Path) -> dict[str, str]:
    extra = {"MESH_GATEWAY_PORT": str(spec.port)} if spec.protocol == "http" else {}
    return child_env(spec, 0, spec.port, data_dir, extra, {})


def test_every_entry_renders(topology: Topology) -> None:
    rendered = _rendered(topology)
    assert set(rendered) == set(topology.services)
    gateway = rendered["gateway"]
    assert gateway.environment["MESH_GATEWAY_AUTH"] == "jwt"
    assert gateway.environment["MESH_CLOUDMAP_NAMESPACE"] == "shop-dev.shop.local"
    assert gateway.secrets == set()
    assert rendered["orders"].secrets == set(SECRET_VALUES)


def test_same_module_port_and_health_check_as_the_local_run(
    topology: Topology, tmp_path: Path
) -> None:
    for name, container in _rendered(topology).items():
        spec = topology[name]
        local = _local(spec, tmp_path)
        assert container.command[-1] == spec.module  # scripts/run: python -m <module>
        assert container.environment["MESH_PORT"] == local["MESH_PORT"] == str(spec.port)
        assert container.port == spec.port
        # The runner waits on the same probe the container health check runs.
        if spec.protocol == "grpc":
            assert container.health == [
                "CMD",
                "python",
                "-m",
                "mesh.probe",
                "--addr",
                f"127.0.0.1:{spec.port}",
            ]
        else:
            assert container.health == [
                "CMD",
                "python",
                "-m",
                "mesh.probe",
                "--http",
                f"http://127.0.0.1:{spec.port}/healthz",
            ]
        assert container.environment["PYTHONUNBUFFERED"] == local["PYTHONUNBUFFERED"] == "1"


def test_services_yaml_env_reaches_both_and_neither_overrides_it(
    topology: Topology, tmp_path: Path
) -> None:
    for name, container in _rendered(topology).items():
        spec = topology[name]
        local = _local(spec, tmp_path)
        for key, value in spec.env:
            assert container.environment[key] == value, f"{name}: {key} on ECS"
            assert local[key] == value, f"{name}: {key} locally"


def test_the_runtimes_differ_only_where_they_should(topology: Topology, tmp_path: Path) -> None:
    for name, container in _rendered(topology).items():
        spec = topology[name]
        local = set(_local(spec, tmp_path)) - {"MESH_GATEWAY_PORT"}
        aws = set(container.environment)
        assert local - aws == LOCAL_ONLY, f"{name}: only local: {sorted(local - aws)}"
        extra = aws - local - {k for k in aws if k.startswith("MESH_GATEWAY_")}
        assert extra == AWS_ONLY, f"{name}: only on ECS: {sorted(extra ^ AWS_ONLY)}"


def test_the_processes_accept_the_rendered_environment(topology: Topology) -> None:
    """The task's environment and secrets, read by the same code scripts/run's processes run."""
    for name, container in _rendered(topology).items():
        spec = topology[name]
        secrets = {**SECRET_VALUES, "MESH_DB_NAME": name}
        environ = {**container.environment, **{k: secrets[k] for k in container.secrets}}
        if spec.protocol == "http":
            gateway = GatewaySettings.from_env(environ, default_port=0)
            assert gateway.port == spec.port and gateway.host == "0.0.0.0"
            assert gateway.jwt is not None and gateway.jwt.scope_prefix == "shop/"
            assert gateway.trusted_proxies == 1
            assert gateway.stream_timeout == 840 and gateway.stream_heartbeat_seconds == 15
            assert container.environment["MESH_GATEWAY_STREAM_TIMEOUT"] == "840"
            continue
        settings = load_settings(name, environ, topology)
        assert settings.port == spec.port and settings.host == "0.0.0.0"
        assert settings.registry == "cloudmap" and settings.register is False
        assert settings.cloudmap_namespace == "shop-dev.shop.local"
        assert settings.page_token_key == SECRET_VALUES["MESH_PAGE_TOKEN_KEY"].encode()
        if spec.store:
            assert settings.database_url.startswith("postgresql+asyncpg://mesh_admin:")
            assert settings.database_url.endswith(f":5432/{name}")
            assert settings.db_password_secret == SECRET_VALUES["MESH_DB_PASSWORD_SECRET"]
        local = load_settings(name, _local(spec, Path("/nonexistent-data")), topology)
        assert (settings.shutdown_grace, settings.call_timeout, settings.log_level) == (
            local.shutdown_grace,
            local.call_timeout,
            local.log_level,
        )


def test_the_health_check_command_parses(topology: Topology) -> None:
    """The probe's arguments as ECS passes them (a closed port: unhealthy, not a usage error)."""
    for container in _rendered(topology).values():
        args = container.health[4:]
        target = "127.0.0.1:9" if args[0] == "--addr" else "http://127.0.0.1:9/healthz"
        run = subprocess.run(
            [sys.executable, "-m", "mesh.probe", args[0], target, "--timeout", "0.5"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            cwd=ROOT,
        )
        assert run.returncode == 1, shlex.join(args) + run.stderr
