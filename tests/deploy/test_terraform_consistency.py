"""Terraform builds the mesh that services.yaml describes, and its wiring is whole.

The environment reads services.yaml itself (yamldecode), so these checks pin
the expressions that turn each entry into resources: an ECS service and a
Cloud Map service per entry, a database per store, security-group rules from
depends_on only, and ports from the file only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mesh.topology import Topology, load_topology
from tests.deploy.terraform import (
    ENV,
    MODULES,
    ROOT,
    TERRAFORM,
    Module,
    all_modules,
    expr,
    load_module,
    strings,
    tf_files,
)

SERVICES_YAML = ROOT / "services.yaml"
SG_RULE_TYPES = ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule")


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(SERVICES_YAML)


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def ecs_service() -> Module:
    return load_module(MODULES / "ecs_service")


# -- references resolve -------------------------------------------------------


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_var_used_is_declared(module: Module) -> None:
    undeclared = module.used_vars() - set(module.variables)
    assert not undeclared, f"{module.name}: var.{', var.'.join(sorted(undeclared))} not declared"


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_declared_var_is_used(module: Module) -> None:
    unused = set(module.variables) - module.used_vars()
    assert not unused, f"{module.name}: declared but never used: {sorted(unused)}"


@pytest.mark.parametrize("module", all_modules(), ids=lambda m: m.name)
def test_every_local_used_is_declared(module: Module) -> None:
    undeclared = module.used_locals() - set(module.locals)
    assert not undeclared, (
        f"{module.name}: local.{', local.'.join(sorted(undeclared))} not declared"
    )


def test_every_module_call_passes_required_inputs_and_only_known_ones(env: Module) -> None:
    assert env.calls, "the environment instantiates no module"
    for call in env.calls:
        target = env.call_target(call)
        assert target.path.parent == MODULES, f"module {call}: source outside modules/"
        passed = env.call_inputs(call)
        missing = target.required_inputs() - passed
        unknown = passed - set(target.variables)
        assert not missing, f"module {call}: required inputs not passed: {sorted(missing)}"
        assert not unknown, f"module {call}: inputs the module does not declare: {sorted(unknown)}"


def test_every_module_output_used_exists(env: Module) -> None:
    for call, output in env.used_module_outputs():
        assert call in env.calls, f"module.{call} is not instantiated"
        target = env.call_target(call)
        assert output in target.outputs, f"module.{call}.{output}: no such output"


def test_every_module_is_instantiated(env: Module) -> None:
    used = {env.call_target(c).path.name for c in env.calls}
    assert used == {p.name for p in MODULES.iterdir() if p.is_dir()}


# -- the service list comes from services.yaml ---------------------------------


def test_environment_reads_the_single_service_list(env: Module, topology: Topology) -> None:
    match = re.fullmatch(
        r'yamldecode\(file\("\$\{path\.module\}/(.+)"\)\)', expr(env.locals["topology"])
    )
    assert match, f"local.topology must be yamldecode(file(...)), got {env.locals['topology']}"
    assert (ENV / match.group(1)).resolve() == SERVICES_YAML
    assert topology.services, "services.yaml lists no service"


def test_defaults_match_mesh_topology(env: Module) -> None:
    services = expr(env.locals["services"])
    assert services.startswith("{for name, svc in local.topology.services : name =>")
    for default in (
        'protocol = try(svc.protocol, "grpc")',
        "depends_on = try(svc.depends_on, [])",
        "replicas = try(svc.replicas, 1)",
        'store = try(svc.store, "none")',
        "port = svc.port",
        "module = svc.module",
        "env = try(svc.env, {})",
    ):
        assert default in services, f"local.services lost {default!r}"


def test_every_service_gets_an_ecs_service_and_a_cloud_map_service(
    env: Module, ecs_service: Module
) -> None:
    call = env.calls["service"]
    assert env.call_target("service").path == ecs_service.path
    assert expr(call["for_each"]) == "local.services"
    wiring = {
        "name": "each.key",
        "module": "each.value.module",
        "port": "each.value.port",
        "protocol": "each.value.protocol",
        "desired_count": "each.value.replicas",
        "discovers": "length(each.value.depends_on) > 0",
    }
    assert {k: expr(call[k]) for k in wiring} == wiring
    # Exactly one of each per module instance, never conditional.
    for kind in ("aws_ecs_service", "aws_service_discovery_service", "aws_ecs_task_definition"):
        found = ecs_service.resources_of(kind)
        assert len(found) == 1, f"ecs_service must have exactly one {kind}"
        body = next(iter(found.values()))
        assert "count" not in body, f"{kind} must not be conditional"
        assert "for_each" not in body, f"{kind} must not be repeated"


def test_cloud_map_service_has_a_and_srv_records_and_custom_health(ecs_service: Module) -> None:
    (discovery,) = ecs_service.resources_of("aws_service_discovery_service").values()
    records = discovery["dns_config"][0]["dns_records"]
    assert sorted(r["type"] for r in records) == ["A", "SRV"]
    assert discovery["health_check_custom_config"], (
        "ECS needs custom health config to report health"
    )
    (service,) = ecs_service.resources_of("aws_ecs_service").values()
    registry = service["service_registries"][0]
    assert expr(registry["registry_arn"]) == "aws_service_discovery_service.this.arn"
    assert expr(registry["container_port"]) == "var.port", "SRV records need the container port"
    assert service["deployment_circuit_breaker"][0] == {"enable": True, "rollback": True}
    assert service["deployment_controller"][0]["type"] == "ECS"
    assert service["network_configuration"][0]["assign_public_ip"] is False


def test_task_runs_the_module_on_the_port_with_the_mesh_probe(ecs_service: Module) -> None:
    (task,) = ecs_service.resources_of("aws_ecs_task_definition").values()
    container = expr(task["container_definitions"])
    assert 'command = ["python", "-m", var.module]' in container
    assert "containerPort = var.port" in container
    assert "command = local.probe" in container
    assert "stopTimeout = local.stop_timeout" in container
    probe = expr(ecs_service.locals["probe"])
    assert '"mesh.probe", "--addr", "127.0.0.1:${var.port}"' in probe
    assert '"mesh.probe", "--http", "http://127.0.0.1:${var.port}/healthz"' in probe
    # ECS waits for the not-ready drain and the drain grace before SIGKILL.
    assert (
        expr(ecs_service.locals["stop_timeout"])
        == "min(120, var.drain_seconds + var.shutdown_grace_seconds + 5)"
    )
    env_map = expr(ecs_service.locals["environment"])
    for setting in (
        'MESH_HOST = "0.0.0.0"',
        "MESH_PORT = tostring(var.port)",
        'MESH_REGISTRY = "cloudmap"',
        "MESH_CLOUDMAP_NAMESPACE = var.namespace_name",
        'MESH_REGISTER = "false"',
        "MESH_SHUTDOWN_GRACE_SECONDS = tostring(var.shutdown_grace_seconds)",
        "MESH_GATEWAY_DRAIN_SECONDS = tostring(var.drain_seconds)",
    ):
        assert setting in env_map, f"container environment lacks {setting}"


def test_no_service_port_is_written_down_twice(topology: Topology) -> None:
    """Ports come from services.yaml only: none appears as a literal in a .tf file."""
    ports = {str(spec.port) for spec in topology.services.values()}
    for path in tf_files():
        text = path.read_text(encoding="utf-8")
        for port in ports:
            assert not re.search(rf"(?<![\w.-]){port}(?![\w.-])", text), (
                f"{path.relative_to(TERRAFORM)} hard-codes port {port}; read it from services.yaml"
            )


# -- databases: one per service with a store ----------------------------------


def test_each_store_gets_a_database_and_its_settings_as_secrets(
    env: Module, topology: Topology
) -> None:
    assert (
        expr(env.locals["stores"])
        == 'sort([for name, svc in local.services : name if svc.store == "sql"])'
    )
    assert expr(env.calls["data"]["databases"]) == "local.stores"
    data = env.call_target("data")
    (secret,) = data.resources_of("aws_secretsmanager_secret").values()
    assert expr(secret["for_each"]) == "toset(var.databases)"
    secrets = expr(env.calls["service"]["secrets"])
    # Database settings only for services with a store (the page-token key follows them).
    match = re.match(r'merge\(each\.value\.store == "sql" \? (\{.*?\}) : \{\},', secrets)
    assert match, secrets
    secrets = match.group(1)
    for name in (
        "MESH_DB_HOST",
        "MESH_DB_PORT",
        "MESH_DB_NAME",
        "MESH_DB_USER",
        "MESH_DB_PASSWORD",
    ):
        assert re.search(
            rf'{name} = "\$\{{module\.data\.[a-z_]+(\[each\.key\])?\}}:[a-z]+::"', secrets
        ), name
    assert any(s.store == "sql" for s in topology.services.values()), "no service has a store"


def test_database_settings_never_travel_in_plain_sight(env: Module, topology: Topology) -> None:
    data = env.call_target("data")
    (instance,) = data.resources_of("aws_db_instance").values()
    assert instance["manage_master_user_password"] is True
    assert "password" not in instance, "the master password belongs to RDS and Secrets Manager"
    assert instance["storage_encrypted"] is True
    assert instance["publicly_accessible"] is False
    for name, body in data.outputs.items():
        value = expr(body["value"])
        assert "address" not in value, f"data output {name} leaks the host"
        assert "endpoint" not in value, f"data output {name} leaks the host"
    # Plain environment: services.yaml's env (refused there if it looks like a secret,
    # see mesh.topology), the log level, and for the REST gateway its token settings
    # (issuer, JWKS URL, audience: public values), for a service with store: redis
    # its cache's URL (host, port, TLS: the token is a secret), for a service with
    # store: dynamodb its table's name; nothing else.
    passed = expr(env.calls["service"]["environment"])
    assert passed == (
        "merge(each.value.env, {MESH_LOG_LEVEL = var.log_level}, "
        "each.key == local.entry ? local.gateway_env : {}, "
        "lookup(local.cache_env, each.key, {}), lookup(local.table_env, each.key, {}), "
        "lookup(local.workflow_env, each.key, {}))"
    ), passed
    ecs_service = env.call_target("service")
    plain_text = (
        expr(ecs_service.locals["environment"])
        + expr(env.locals["gateway_env"])
        + expr(env.locals["cache_env"])
        + expr(env.locals["table_env"])
        + " ".join(strings(env.locals["workflow_env"]))
    )
    yaml_env = {key for spec in topology.services.values() for key, _ in spec.env}
    for forbidden in ("DATABASE_URL", "_DB_", "PASSWORD", "PAGE_TOKEN", "SECRET"):
        assert not any(forbidden in key for key in yaml_env), (
            f"{forbidden} passed as plain environment"
        )
        assert forbidden not in plain_text, f"{forbidden} set as plain environment"
    env_outputs = " ".join(strings(env.outputs))
    assert "module.data" not in env_outputs


# -- security groups: exactly the dependencies ---------------------------------


def _ingress_rules(module: Module) -> dict[str, dict[str, object]]:
    rules: dict[str, dict[str, object]] = {}
    for kind in SG_RULE_TYPES:
        rules.update({f"{kind}.{n}": b for n, b in module.resources_of(kind).items()})
    return rules


def test_service_security_groups_have_no_ingress_of_their_own(ecs_service: Module) -> None:
    assert not _ingress_rules(ecs_service), (
        "ingress to a service is granted only in envs/dev/security.tf"
    )
    (group,) = ecs_service.resources_of("aws_security_group").values()
    assert "ingress" not in group


def test_callers_are_exactly_the_dependencies(env: Module, topology: Topology) -> None:
    calls = expr(env.locals["calls"])
    assert calls == (
        "merge([for caller, svc in local.services : {for callee in svc.depends_on : "
        '"${caller}-${callee}" => {caller = caller, callee = callee}}] ...)'
    )
    rules = _ingress_rules(env)
    mesh = rules.pop("aws_vpc_security_group_ingress_rule.mesh")
    assert expr(str(mesh["for_each"])) == "local.calls"
    assert (
        expr(str(mesh["security_group_id"]))
        == "module.service[each.value.callee].security_group_id"
    )
    assert expr(str(mesh["referenced_security_group_id"])) == (
        "module.service[each.value.caller].security_group_id"
    )
    assert (
        expr(str(mesh["from_port"]))
        == expr(str(mesh["to_port"]))
        == "local.services[each.value.callee].port"
    )
    entry = rules.pop("aws_vpc_security_group_ingress_rule.entry_from_api_gateway")
    assert expr(str(entry["security_group_id"])) == "module.service[local.entry].security_group_id"
    assert expr(str(entry["referenced_security_group_id"])) == (
        "module.api_gateway.vpc_link_security_group_id"
    )
    assert expr(str(entry["from_port"])) == "local.services[local.entry].port"
    stream = rules.pop("aws_vpc_security_group_ingress_rule.entry_from_stream_nlb")
    assert expr(str(stream["security_group_id"])) == (
        "module.service[local.entry].security_group_id"
    )
    assert expr(str(stream["referenced_security_group_id"])) == (
        "module.stream_api[0].security_group_id"
    )
    database = rules.pop("aws_vpc_security_group_ingress_rule.database")
    assert expr(str(database["for_each"])) == "toset(local.stores)"
    assert expr(str(database["security_group_id"])) == "module.data.security_group_id"
    cache = rules.pop("aws_vpc_security_group_ingress_rule.cache")
    assert expr(str(cache["for_each"])) == "toset(local.caches)"
    # The workflow's Lambda functions, from their depends_on (test_terraform_workflow.py).
    function = rules.pop("aws_vpc_security_group_ingress_rule.function")
    assert expr(str(function["for_each"])) == "local.function_calls"
    assert not rules, f"unexpected ingress rules: {sorted(rules)}"
    # The API Gateway entry is the one http service.
    assert expr(env.locals["entry"]) == (
        'one([for name, svc in local.services : name if svc.protocol == "http"])'
    )
    assert [s.name for s in topology.services.values() if s.protocol == "http"] == ["gateway"]


def test_only_callers_may_discover(env: Module, ecs_service: Module, topology: Topology) -> None:
    assert expr(env.calls["service"]["discovers"]) == "length(each.value.depends_on) > 0"
    document = ecs_service.data[("aws_iam_policy_document", "task")]
    discover = next(
        s
        for s in document["dynamic"]
        if s["statement"]["content"][0].get("sid") == "DiscoverMeshServices"
    )
    assert expr(discover["statement"]["for_each"]).startswith("var.discovers ?")
    # discovers follows depends_on for every entry, so a new caller (a scaffolded
    # service) gets the permission and a service that calls no one does not.
    callers = {s.name for s in topology.services.values() if s.depends_on}
    assert {"orders", "gateway"} <= callers


def test_no_other_ingress_anywhere_admits_the_world() -> None:
    for module in all_modules():
        for name, rule in _ingress_rules(module).items():
            assert rule.get("cidr_ipv4") != "0.0.0.0/0", (
                f"{module.name}: {name} admits the internet"
            )


def test_files_are_where_the_docs_say(env: Module) -> None:
    assert (env.path / "terraform.tfvars.example").is_file()
    assert Path(ENV).name == "dev"


def test_stores_reread_the_rotating_password_with_least_privilege(
    env: Module, ecs_service: Module
) -> None:
    data = env.call_target("data")
    (version,) = data.resources_of("aws_secretsmanager_secret_version").values()
    assert "password_secret = aws_db_instance.this.master_user_secret[0].secret_arn" in expr(
        version["secret_string"]
    )
    secrets = expr(env.calls["service"]["secrets"])
    assert (
        'MESH_DB_PASSWORD_SECRET = "${module.data.connection_secret_arns[each.key]}'
        ':password_secret::"' in secrets
    )
    assert (
        expr(env.calls["service"]["runtime_secret_arns"])
        == 'each.value.store == "sql" ? [module.data.master_user_secret_arn] : []'
    )
    document = ecs_service.data[("aws_iam_policy_document", "task")]
    statements = {
        s["statement"]["content"][0].get("sid"): s["statement"] for s in document["dynamic"]
    }
    read, decrypt = statements["ReadRuntimeSecrets"], statements["DecryptRuntimeSecrets"]
    for statement in (read, decrypt):
        assert expr(statement["for_each"]).startswith("length(var.runtime_secret_arns) > 0 ?")
    assert read["content"][0]["actions"] == ["secretsmanager:GetSecretValue"]
    assert expr(read["content"][0]["resources"]) == "statement.value"
    assert decrypt["content"][0]["actions"] == ["kms:Decrypt"]
    assert decrypt["content"][0]["resources"] == ["${var.kms_key_arn}"]
    conditions = {c["variable"]: c for c in decrypt["content"][0]["condition"]}
    assert conditions["kms:ViaService"]["values"] == ["secretsmanager.${var.region}.amazonaws.com"]
    assert expr(conditions["kms:EncryptionContext:SecretARN"]["values"]) == "statement.value"
    policy = ecs_service.resources[("aws_iam_role_policy", "task")]
    assert "length(var.runtime_secret_arns) > 0" in expr(policy["count"])
