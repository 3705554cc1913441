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
from redis.asyncio.connection import SSLConnection

from gateway.settings import Settings as GatewaySettings
from mesh.config import load_settings
from mesh.kv.redis import RedisStore
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
    "MESH_REDIS_PASSWORD": "auth-token-from-secrets-manager",
}
# What the environment computes from the cache module (modules/cache) for a service.
CACHE_ENDPOINT = "master.shop-dev-{name}.abcdef.euw1.cache.amazonaws.com"
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
# What the environment computes from the workflow module (modules/workflow) for orders.
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:shop-dev-order-fulfilment"
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
# store: redis on ECS: the cache's rediss:// URL (locally the Redis on 127.0.0.1 or the embedded file).
AWS_ONLY_REDIS = {"MESH_REDIS_URL"}
# The service that starts the order workflow: Step Functions and its state machine on AWS.
AWS_ONLY_WORKFLOW = {"MESH_WORKFLOW", "MESH_WORKFLOW_STATE_MACHINE_ARN"}


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

    def cache_env(self) -> dict[str, str]:
        """``local.cache_env[each.key]``: the cache's URL, for a service with store: redis."""
        caches = expr(self.env.locals["caches"])
        assert caches == 'sort([for name, svc in local.services : name if svc.store == "redis"])'
        if self.spec.store != "redis":
            return {}
        text = expr(self.env.locals["cache_env"])
        m = re.fullmatch(r"\{for name in local\.caches : name => \{(\w+) = \"([^\"]*)\"\}\}", text)
        assert m, f"the renderer cannot evaluate {text!r}: teach it this shape"
        cache = load_module(MODULES / "cache")
        value = m.group(2).replace(
            "${module.cache.primary_endpoints[name]}", CACHE_ENDPOINT.format(name=self.spec.name)
        )
        value = value.replace("${module.cache.port}", str(cache.locals["port"]))
        assert "${" not in value, value
        return {m.group(1): value}

    def table_env(self) -> dict[str, str]:
        """``local.table_env[each.key]``: the table's name, for a service with store: dynamodb."""
        tables = expr(self.env.locals["tables"])
        assert tables == 'sort([for name, svc in local.services : name if svc.store == "dynamodb"])'
        if self.spec.store != "dynamodb":
            return {}
        text = expr(self.env.locals["table_env"])
        assert text == (
            '{for name in local.tables : name => {"${upper(name)}_DYNAMODB_TABLE" = '
            "module.table[name].name}}"
        ), f"the renderer cannot evaluate {text!r}: teach it this shape"
        name = f"{self.default(self.env, 'name')}-{self.spec.name}"
        return {f"{self.spec.name.upper()}_DYNAMODB_TABLE": name}

    def workflow_env(self) -> dict[str, str]:
        """``local.workflow_env[each.key]``: the state machine, for the service that starts it."""
        starter = self.env.locals["workflow_starter"]
        assert starter in self.topology.services, f"workflow_starter {starter!r} is no service"
        ((key, values),) = self.env.locals["workflow_env"].items()
        assert key == "${(local.workflow_starter)}", "the renderer cannot read local.workflow_env"
        if self.spec.name != starter:
            return {}
        rendered = {}
        for name, value in values.items():
            if value == "${module.workflow.state_machine_arn}":
                rendered[name] = STATE_MACHINE_ARN
            else:
                assert "${" not in value, f"the renderer cannot evaluate {value!r}"
                rendered[name] = value
        return rendered

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
            "each.key == local.entry ? local.gateway_env : {}, "
            "lookup(local.cache_env, each.key, {}), lookup(local.table_env, each.key, {}), "
            "lookup(local.workflow_env, each.key, {}))"
        ), "the environment's shape changed: update the renderer"
        passed = {
            **dict(self.spec.env),
            "MESH_LOG_LEVEL": str(self.default(self.env, "log_level")),
            **(self.gateway_env() if self.spec.name == self.entry else {}),
            **self.cache_env(),
            **self.table_env(),
            **self.workflow_env(),
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
        assert secrets_text.startswith("merge("), secrets_text
        # merge(COND ? {NAME = ..., ...} : {}, ...): the names of the parts whose condition holds.
        parts = re.findall(r'each\.value\.(store|protocol) == "(\w+)" \? \{(.*?)\} : \{\}', secrets_text)
        assert len(parts) == secrets_text.count(" ? "), "a secrets part the renderer cannot read"
        secrets = set()
        for attribute, wanted, body in parts:
            if getattr(self.spec, attribute) == wanted:
                secrets |= set(re.findall(r"(MESH_\w+) =", body))
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
    database = {k for k in SECRET_VALUES if k.startswith("MESH_DB_")}
    assert rendered["orders"].secrets == database | {"MESH_PAGE_TOKEN_KEY"}
    for name, spec in topology.services.items():
        if spec.store == "redis":
            assert rendered[name].secrets == {"MESH_PAGE_TOKEN_KEY", "MESH_REDIS_PASSWORD"}


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
        expected = AWS_ONLY | (AWS_ONLY_REDIS if spec.store == "redis" else set())
        if name == load_module(ENV).locals["workflow_starter"]:
            expected |= AWS_ONLY_WORKFLOW
        assert extra == expected, f"{name}: only on ECS: {sorted(extra ^ expected)}"


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
        if spec.store == "sql":
            assert settings.database_url.startswith("postgresql+asyncpg://mesh_admin:")
            assert settings.database_url.endswith(f":5432/{name}")
            assert settings.db_password_secret == SECRET_VALUES["MESH_DB_PASSWORD_SECRET"]
        if name == load_module(ENV).locals["workflow_starter"]:
            # orders runs the fulfilment workflow on the state machine Terraform made.
            assert settings.workflow.kind == "stepfunctions"
            assert settings.workflow.state_machine_arn == STATE_MACHINE_ARN
            assert settings.workflow.endpoint is None  # the AWS API, not an emulator
        else:
            assert settings.workflow.kind == "off"
        local = load_settings(name, _local(spec, Path("/nonexistent-data")), topology)
        assert (settings.shutdown_grace, settings.call_timeout, settings.log_level) == (
            local.shutdown_grace,
            local.call_timeout,
            local.log_level,
        )


def test_a_redis_service_reaches_its_cache_over_tls_with_the_auth_token(
    topology: Topology,
) -> None:
    """carts' task environment and secrets lead its settings and its Redis client to the cache."""
    redis_services = [s for s in topology.services.values() if s.store == "redis"]
    assert redis_services, "no service has store: redis"
    rendered = _rendered(topology)
    for spec in redis_services:
        container = rendered[spec.name]
        environ = {
            **container.environment,
            **{k: SECRET_VALUES[k] for k in container.secrets},
        }
        settings = load_settings(spec.name, environ, topology)
        endpoint = CACHE_ENDPOINT.format(name=spec.name)
        assert settings.store == "redis"
        assert settings.redis_url == f"rediss://{endpoint}:6379/0"
        assert settings.redis_password == SECRET_VALUES["MESH_REDIS_PASSWORD"]
        # The client the service builds from them (nothing connects yet): TLS, the token.
        store = RedisStore(
            settings.redis_url, prefix=settings.redis_prefix, password=settings.redis_password
        )
        pool = store.client.connection_pool
        assert issubclass(pool.connection_class, SSLConnection)
        assert pool.connection_kwargs["host"] == endpoint
        assert pool.connection_kwargs["port"] == 6379
        assert pool.connection_kwargs["password"] == SECRET_VALUES["MESH_REDIS_PASSWORD"]
        assert "auth-token" not in store.description  # logged without the password
        # The token is an ECS secret from Secrets Manager, never plain environment.
        assert "MESH_REDIS_PASSWORD" in container.secrets
        assert "MESH_REDIS_PASSWORD" not in container.environment


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
