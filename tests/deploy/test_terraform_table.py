"""store: dynamodb gets a DynamoDB table of its own, reached privately, used by its owner only.

modules/table (called from envs/dev/dynamodb.tf): on demand, point-in-time
recovery, encrypted with the environment's key, deletion protection. The key
schema is the one the catalog's adapter queries (services/catalog/dynamodb.py).
The network adds a DynamoDB gateway endpoint admitting only the mesh's tables,
and the owning task's role may make exactly the adapter's item calls on its
own table and that table's indexes. services.yaml keeps the catalog on SQL: the
DynamoDB adapter is an option, so none of this is created until it is chosen.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mesh.kv import dynamodb as kv_dynamodb
from mesh.topology import Topology, load_topology
from services.catalog import dynamodb as catalog_dynamodb
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

# boto3 operation -> IAM action, for every call a DynamoDB adapter of ours makes.
IAM_ACTIONS = {
    "get_item": "dynamodb:GetItem",
    "batch_get_item": "dynamodb:BatchGetItem",
    "put_item": "dynamodb:PutItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
}
ADAPTERS = [ROOT / "services" / "catalog" / "dynamodb.py", ROOT / "mesh" / "kv" / "dynamodb.py"]


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "services.yaml")


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def table() -> Module:
    return load_module(MODULES / "table")


def _dynamic(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block[kind] for block in body.get("dynamic", []) if kind in block]


def _operations(path: Path) -> set[str]:
    """The DynamoDB operations an adapter calls (the names it passes to call/_call)."""
    return set(
        re.findall(
            r'"(get_item|batch_get_item|put_item|delete_item|query|scan|'
            r'update_item|transact_\w+)"',
            path.read_text(),
        )
    )


def test_a_table_for_exactly_the_dynamodb_services(env: Module, topology: Topology) -> None:
    assert expr(env.locals["tables"]) == (
        'sort([for name, svc in local.services : name if svc.store == "dynamodb"])'
    )
    assert expr(env.calls["table"]["for_each"]) == "toset(local.tables)"
    assert env.calls["table"]["name"] == "${var.name}-${each.key}"
    # The adapter is an option: the catalog stays on SQL unless services.yaml says otherwise.
    assert topology["catalog"].store == "sql"
    assert [s.name for s in topology.services.values() if s.store == "dynamodb"] == []


def test_the_key_schema_is_the_catalog_adapters(env: Module) -> None:
    schema = env.locals["table_schemas"]["catalog"]
    assert schema["hash_key"] == catalog_dynamodb.TABLE_KEY
    assert schema["indexes"] == [
        {
            "name": catalog_dynamodb.INDEX,
            "hash_key": catalog_dynamodb.INDEX_KEY,
            "range_key": catalog_dynamodb.TABLE_KEY,
        }
    ]
    chosen = "lookup(local.table_schemas, each.key, local.kv_table)"
    for argument in ("hash_key", "indexes", "ttl_attribute"):
        assert expr(env.calls["table"][argument]) == f"{chosen}.{argument}"


def test_any_other_dynamodb_service_gets_the_key_value_adapters_table(env: Module) -> None:
    """A scripts/new-service --store dynamodb service needs no edit here: mesh.kv's schema."""
    source = Path(kv_dynamodb.__file__).read_text()
    kv = env.locals["kv_table"]
    assert kv["hash_key"] == "pk" and '"pk"' in source
    assert kv["indexes"] == []
    assert kv["ttl_attribute"] == "expires" and '"expires"' in source


def test_on_demand_recoverable_encrypted_and_protected(env: Module, table: Module) -> None:
    (body,) = table.resources_of("aws_dynamodb_table").values()
    assert body["billing_mode"] == "PAY_PER_REQUEST"
    assert body["point_in_time_recovery"] == [{"enabled": True}]
    (sse,) = body["server_side_encryption"]
    assert sse["enabled"] is True and expr(sse["kms_key_arn"]) == "var.kms_key_arn"
    assert expr(env.calls["table"]["kms_key_arn"]) == "aws_kms_key.this.arn"
    assert expr(body["deletion_protection_enabled"]) == "var.deletion_protection"
    assert expr(env.calls["table"]["deletion_protection"]) == "var.table_deletion_protection"
    assert env.variables["table_deletion_protection"]["default"] is True
    assert table.variables["deletion_protection"]["default"] is True
    (index,) = _dynamic(body, "global_secondary_index")
    assert index["content"][0]["projection_type"] == "ALL"  # a page is one Query
    (attribute,) = _dynamic(body, "attribute")
    assert attribute["content"][0]["type"] == "S"


def test_the_task_finds_its_table_by_name(env: Module) -> None:
    assert expr(env.locals["table_env"]) == (
        '{for name in local.tables : name => {"${upper(name)}_DYNAMODB_TABLE" = '
        "module.table[name].name}}"
    )
    assert "lookup(local.table_env, each.key, {})" in expr(env.calls["service"]["environment"])


def test_a_gateway_endpoint_admits_only_the_mesh_tables(env: Module) -> None:
    network = env.call_target("network")
    endpoint = network.resources_of("aws_vpc_endpoint")["dynamodb"]
    assert expr(endpoint["count"]) == "length(var.dynamodb_table_arns) > 0 ? 1 : 0"
    assert endpoint["vpc_endpoint_type"] == "Gateway"
    assert endpoint["service_name"].endswith(".dynamodb")
    assert expr(endpoint["route_table_ids"]) == "aws_route_table.private[*].id"
    policy = expr(endpoint["policy"])
    assert 'for arn in var.dynamodb_table_arns : [arn, "${arn}/index/*"]' in policy
    assert '"dynamodb:*"' not in policy
    assert expr(env.calls["network"]["dynamodb_table_arns"]) == (
        "[for name in local.tables : module.table[name].arn]"
    )


def test_the_task_role_may_use_exactly_its_own_table(env: Module) -> None:
    ecs = env.call_target("service")
    doc = ecs.data[("aws_iam_policy_document", "task")]
    (statement,) = [
        s for s in _dynamic(doc, "statement") if s["content"][0].get("sid") == "UseOwnTables"
    ]
    assert expr(statement["for_each"]) == (
        "length(var.dynamodb_table_arns) > 0 ? [var.dynamodb_table_arns] : []"
    )
    content = statement["content"][0]
    assert expr(content["resources"]) == (
        'flatten([for arn in statement.value : [arn, "${arn}/index/*"]])'
    )
    granted = set(content["actions"])
    used = set().union(*(_operations(path) for path in ADAPTERS))
    assert used <= set(IAM_ACTIONS), f"an adapter calls {used - set(IAM_ACTIONS)}: grant it"
    assert granted == {IAM_ACTIONS[op] for op in used}, "grant what the adapters call, no more"
    policy = ecs.resources[("aws_iam_role_policy", "task")]
    assert "length(var.dynamodb_table_arns) > 0" in expr(policy["count"])
    assert expr(env.calls["service"]["dynamodb_table_arns"]) == (
        "contains(local.tables, each.key) ? [module.table[each.key].arn] : []"
    )
