"""store: redis gets an ElastiCache cache of its own, locked down like the database.

One replication group per service with ``store: redis`` (modules/cache, called
from envs/dev/cache.tf): TLS only, encrypted at rest with the environment's
key, an AUTH token made by Secrets Manager and written through a write-only
argument, and a security group that admits exactly the owning service's tasks.
"""

from __future__ import annotations

import pytest

from mesh.topology import Topology, load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module, strings


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "services.yaml")


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def cache() -> Module:
    return load_module(MODULES / "cache")


def test_a_cache_for_exactly_the_redis_services(
    env: Module, cache: Module, topology: Topology
) -> None:
    assert expr(env.locals["caches"]) == (
        'sort([for name, svc in local.services : name if svc.store == "redis"])'
    )
    assert expr(env.calls["cache"]["caches"]) == "local.caches"
    per_service = [
        "aws_elasticache_replication_group",
        "aws_security_group",
        "aws_secretsmanager_secret",
        "aws_secretsmanager_secret_version",
        "aws_cloudwatch_log_group",
    ]
    for kind in per_service:
        (body,) = cache.resources_of(kind).values()
        assert expr(body["for_each"]) == "toset(var.caches)", kind
    assert [s.name for s in topology.services.values() if s.store == "redis"] == ["carts"]


def test_tls_and_encryption_at_rest_with_the_environments_key(
    env: Module, cache: Module
) -> None:
    (group,) = cache.resources_of("aws_elasticache_replication_group").values()
    assert group["engine"] == "valkey"
    assert group["transit_encryption_enabled"] is True
    assert group["transit_encryption_mode"] == "required"
    assert group["at_rest_encryption_enabled"] is True
    assert expr(group["kms_key_id"]) == "var.kms_key_arn"
    assert expr(env.calls["cache"]["kms_key_arn"]) == "aws_kms_key.this.arn"
    assert expr(group["subnet_group_name"]) == "aws_elasticache_subnet_group.this.name"
    assert expr(env.calls["cache"]["subnet_ids"]) == "module.network.private_subnet_ids"
    # The task dials TLS: rediss:// (redis-py's SSL connection), on the cache's port.
    url = expr(env.locals["cache_env"])
    assert 'MESH_REDIS_URL = "rediss://${module.cache.primary_endpoints[name]}' in url
    assert ":${module.cache.port}/0" in url


def test_multi_az_off_by_default_and_no_final_snapshot(env: Module, cache: Module) -> None:
    (group,) = cache.resources_of("aws_elasticache_replication_group").values()
    assert env.variables["cache_multi_az"]["default"] is False
    assert env.variables["cache_replicas"]["default"] == 0
    assert expr(group["num_cache_clusters"]) == "1 + var.replicas"
    assert expr(group["automatic_failover_enabled"]) == "var.replicas > 0"
    assert "final_snapshot_identifier" not in group, "destroy keeps no snapshot of a cache"
    assert env.variables["cache_snapshot_retention_days"]["default"] == 0
    (log,) = group["log_delivery_configuration"]
    assert log["log_type"] == "slow-log" and log["destination_type"] == "cloudwatch-logs"


def test_the_auth_token_comes_from_secrets_manager(env: Module, cache: Module) -> None:
    (group,) = cache.resources_of("aws_elasticache_replication_group").values()
    assert expr(group["auth_token"]).startswith(
        "jsondecode(data.aws_secretsmanager_secret_version.auth_token[each.key].secret_string)"
    )
    (secret,) = cache.resources_of("aws_secretsmanager_secret").values()
    assert expr(secret["kms_key_id"]) == "var.kms_key_arn"
    (version,) = cache.resources_of("aws_secretsmanager_secret_version").values()
    assert "secret_string" not in version, "written through the write-only argument only"
    assert "ephemeral.aws_secretsmanager_random_password.auth_token" in expr(
        version["secret_string_wo"]
    )
    # The task gets it as an ECS secret (its execution role may read exactly the
    # secrets it is given), never as environment or an output.
    secrets = expr(env.calls["service"]["secrets"])
    assert (
        'each.value.store == "redis" ? {MESH_REDIS_PASSWORD = '
        '"${module.cache.auth_token_secret_arns[each.key]}:auth_token::"} : {}'
    ) in secrets
    for name, body in [*cache.outputs.items(), *env.outputs.items()]:
        text = " ".join(strings(body))
        assert "auth_token." not in text and "secret_string" not in text, name


def test_only_the_owning_service_reaches_its_cache(env: Module, cache: Module) -> None:
    (group,) = cache.resources_of("aws_security_group").values()
    assert "ingress" not in group and "egress" not in group
    for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        assert not cache.resources_of(kind), "rules are granted in envs/dev/security.tf"
    ingress = env.resources[("aws_vpc_security_group_ingress_rule", "cache")]
    assert expr(ingress["for_each"]) == "toset(local.caches)"
    assert expr(ingress["security_group_id"]) == "module.cache.security_group_ids[each.key]"
    assert (
        expr(ingress["referenced_security_group_id"])
        == "module.service[each.key].security_group_id"
    )
    egress = env.resources[("aws_vpc_security_group_egress_rule", "cache")]
    assert expr(egress["security_group_id"]) == "module.service[each.key].security_group_id"
    assert (
        expr(egress["referenced_security_group_id"])
        == "module.cache.security_group_ids[each.key]"
    )
    for rule in (ingress, egress):
        assert expr(rule["from_port"]) == expr(rule["to_port"]) == "module.cache.port"
        assert "cidr_ipv4" not in rule
    assert cache.locals["port"] == 6379
