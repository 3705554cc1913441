"""The order workflow on AWS: one Lambda per services.yaml function, the one ASL file, exact IAM.

The environment reads services.yaml's ``functions`` map (yamldecode) and
workflows/order_fulfilment.asl.json (templatefile), so these checks pin the
expressions that turn them into resources, and compare the files themselves:
the definition's ``${fn_*}`` placeholders are exactly the keys Terraform
fills, a function's security group reaches exactly its depends_on, and the
state machine may invoke exactly the functions.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from mesh.topology import FunctionSpec, Topology, load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

SERVICES_YAML = ROOT / "services.yaml"
DEFINITION = ROOT / "workflows" / "order_fulfilment.asl.json"
# Terraform's template syntax: ${...} interpolations and %{...} directives.
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_LAMBDA_INTEGRATIONS = {
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::lambda:invoke.waitForTaskToken",
}


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def workflow() -> Module:
    return load_module(MODULES / "workflow")


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(SERVICES_YAML)


@pytest.fixture(scope="module")
def functions(topology: Topology) -> dict[str, FunctionSpec]:
    assert topology.functions, "services.yaml has no functions map"
    return topology.functions


def _statements(module: Module, document: str) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in module.data["aws_iam_policy_document", document]["statement"]}


def _tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Task state, nested Parallel branches and Map iterators included."""
    found: list[dict[str, Any]] = []
    for state in states.values():
        if state.get("Type") == "Task":
            found.append(state)
        for branch in state.get("Branches", []):
            found += _tasks(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found += _tasks(state[key]["States"])
    return found


# -- one Lambda per function ---------------------------------------------------


def test_the_environment_reads_the_functions_from_services_yaml(env: Module) -> None:
    defaults = {f.name: f.default for f in fields(FunctionSpec)}
    assert (defaults["timeout_seconds"], defaults["memory_mb"]) == (10, 256)
    assert defaults["reserved_concurrency"] is None
    functions = expr(env.locals["functions"])
    assert functions.startswith("{for name, fn in try(local.topology.functions, {}) : name =>")
    for field in (
        "depends_on = fn.depends_on",
        "timeout_seconds = try(fn.timeout_seconds, 10)",
        "memory_mb = try(fn.memory_mb, 256)",
        "reserved_concurrency = try(fn.reserved_concurrency, null)",
    ):
        assert field in functions, f"local.functions lost {field!r}"
    call = env.calls["workflow"]
    assert env.call_target("workflow").path == MODULES / "workflow"
    assert expr(call["functions"]) == "local.functions"


def test_one_lambda_per_function_from_the_entry(workflow: Module) -> None:
    (function,) = workflow.resources_of("aws_lambda_function").values()
    assert expr(function["for_each"]) == "var.functions"
    assert function["runtime"] == "python3.12"
    assert function["architectures"] == ["x86_64"]  # the zip's manylinux x86_64 wheels
    assert function["handler"] == "functions.${each.key}.handler"
    assert expr(function["timeout"]) == "each.value.timeout_seconds"
    assert expr(function["memory_size"]) == "each.value.memory_mb"
    assert expr(function["reserved_concurrent_executions"]) == (
        "each.value.reserved_concurrency == null ? -1 : each.value.reserved_concurrency"
    )
    assert function["tracing_config"][0]["mode"] == "Active"
    assert function["publish"] is True
    assert expr(function["source_code_hash"]) == "filebase64sha256(var.package_file)"
    vpc = function["vpc_config"][0]
    assert expr(vpc["subnet_ids"]) == "var.subnet_ids"
    assert vpc["security_group_ids"] == ["${aws_security_group.function[each.key].id}"]
    # Every per-function resource follows the same map.
    for kind in (
        "aws_security_group",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_cloudwatch_log_group",
    ):
        assert expr(workflow.resources[kind, "function"]["for_each"]) == "var.functions"


def test_every_function_name_fits_the_aws_names(
    workflow: Module, functions: dict[str, FunctionSpec]
) -> None:
    """``<name>-<function>`` and ``<name>-<function>-fn`` stay within AWS's 64 characters."""
    condition = str(workflow.variables["functions"]["validation"][0]["condition"])
    match = re.search(r'regex\("(\^\[a-z\]\[a-z0-9_\]\{0,(\d+)\}\$)", name\)', condition)
    assert match, condition
    longest_env = 31  # the module's var.name rule
    assert longest_env + len("-") + int(match.group(2)) + 1 + len("-fn") <= 64
    for name in functions:
        assert re.fullmatch(match.group(1), name), f"{name}: too long or not a Python name"


def test_every_function_has_a_handler_module(functions: dict[str, FunctionSpec]) -> None:
    for name in functions:
        module = ROOT / "functions" / f"{name}.py"
        assert module.is_file(), f"services.yaml function {name} has no {module}"
        text = module.read_text(encoding="utf-8")
        assert re.search(r"^(def handler\(|handler = )", text, re.MULTILINE), module


def test_functions_run_in_the_private_subnets_and_discover_in_cloud_map(
    env: Module, workflow: Module
) -> None:
    call = env.calls["workflow"]
    assert expr(call["subnet_ids"]) == "module.network.private_subnet_ids"
    assert expr(call["namespace_name"]) == "module.discovery.name"
    settings = workflow.locals["function_environment"]
    assert 'MESH_REGISTRY = "cloudmap"' in expr(settings)
    assert "MESH_CLOUDMAP_NAMESPACE = var.namespace_name" in expr(settings)
    # Lambda reserves AWS_* (it sets AWS_REGION itself) and rejects them.
    assert "AWS_" not in expr(settings)


def test_log_groups_have_retention_and_the_key(workflow: Module) -> None:
    groups = workflow.resources_of("aws_cloudwatch_log_group")
    assert set(groups) == {"function", "state_machine"}
    for body in groups.values():
        assert expr(body["retention_in_days"]) == "var.log_retention_days"
        assert expr(body["kms_key_id"]) == "var.kms_key_arn"
    (function,) = workflow.resources_of("aws_lambda_function").values()
    assert function["logging_config"][0]["log_group"] == (
        "${aws_cloudwatch_log_group.function[each.key].name}"
    )


# -- security groups: exactly depends_on ----------------------------------------


def test_a_function_reaches_exactly_its_dependencies(
    env: Module, functions: dict[str, FunctionSpec], topology: Topology
) -> None:
    assert expr(env.locals["function_calls"]) == (
        "merge([for fn, spec in local.functions : {for callee in spec.depends_on : "
        '"${fn}-${callee}" => {function = fn, callee = callee}}] ...)'
    )
    ingress = env.resources["aws_vpc_security_group_ingress_rule", "function"]
    egress = env.resources["aws_vpc_security_group_egress_rule", "function"]
    for rule in (ingress, egress):
        assert expr(rule["for_each"]) == "local.function_calls"
        assert expr(rule["from_port"]) == expr(rule["to_port"])
        assert expr(rule["from_port"]) == "local.services[each.value.callee].port"
        assert rule["ip_protocol"] == "tcp"
    function_sg = "module.workflow.function_security_group_ids[each.value.function]"
    service_sg = "module.service[each.value.callee].security_group_id"
    assert expr(ingress["security_group_id"]) == service_sg
    assert expr(ingress["referenced_security_group_id"]) == function_sg
    assert expr(egress["security_group_id"]) == function_sg
    assert expr(egress["referenced_security_group_id"]) == service_sg
    # What those expressions give for this services.yaml: one edge per dependency,
    # each to a service that has a security group (an ECS service) and a port.
    edges = {f"{name}-{callee}" for name, spec in functions.items() for callee in spec.depends_on}
    assert len(edges) == sum(len(spec.depends_on) for spec in functions.values())
    for name, spec in functions.items():
        assert spec.depends_on, f"function {name} calls no service"
        for callee in spec.depends_on:
            assert topology[callee].protocol == "grpc", f"{name} -> {callee}"


def test_function_groups_admit_nothing(workflow: Module) -> None:
    assert not workflow.resources_of("aws_vpc_security_group_ingress_rule")
    (group,) = workflow.resources_of("aws_security_group").values()
    assert "ingress" not in group
    (https,) = workflow.resources_of("aws_vpc_security_group_egress_rule").values()
    assert (https["from_port"], https["to_port"]) == (443, 443)


# -- the definition: the one ASL file, its placeholders exactly the functions -----


def test_the_definition_is_the_repository_file(env: Module, workflow: Module) -> None:
    definition_file = env.calls["workflow"]["definition_file"]
    assert definition_file.startswith("${path.module}/")
    assert (ENV / definition_file.removeprefix("${path.module}/")).resolve() == DEFINITION
    (machine,) = workflow.resources_of("aws_sfn_state_machine").values()
    assert expr(machine["definition"]) == "templatefile(var.definition_file, local.function_arns)"
    assert expr(workflow.locals["function_arns"]) == (
        '{for name, fn in aws_lambda_function.this : "fn_${name}" => fn.qualified_arn}'
    )


def test_the_placeholders_are_exactly_the_functions(functions: dict[str, FunctionSpec]) -> None:
    text = DEFINITION.read_text(encoding="utf-8")
    assert "%{" not in text, "a template directive in the definition: templatefile would run it"
    placeholders = set(_PLACEHOLDER.findall(text))
    assert placeholders == {f"fn_{name}" for name in functions}, (
        "the definition's ${...} placeholders must be exactly fn_<name> per services.yaml function"
    )
    # Filled as templatefile fills them, the definition is JSON whose Lambda
    # tasks name exactly the functions, each in FunctionName.
    arns = {
        f"fn_{name}": f"arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-{name}:1"
        for name in functions
    }
    filled = _PLACEHOLDER.sub(lambda m: arns[m.group(1)], text)
    definition = json.loads(filled)
    named = set()
    for task in _tasks(definition["States"]):
        if task["Resource"] in _LAMBDA_INTEGRATIONS:
            named.add(task["Parameters"]["FunctionName"])
    assert named == set(arns.values())
    assert "${" not in json.dumps(definition)


def test_the_state_machine_is_standard_logged_and_traced(workflow: Module, env: Module) -> None:
    (machine,) = workflow.resources_of("aws_sfn_state_machine").values()
    assert machine["type"] == "STANDARD"
    logging = machine["logging_configuration"][0]
    assert logging["log_destination"] == "${aws_cloudwatch_log_group.state_machine.arn}:*"
    # Transitions, never data: inputs and outputs hold ids and the task token.
    assert logging["include_execution_data"] is False
    assert expr(logging["level"]) == "var.execution_log_level"
    assert workflow.variables["execution_log_level"]["default"] == "ALL"
    assert machine["tracing_configuration"][0]["enabled"] is True
    assert expr(env.calls["workflow"]["execution_log_level"]) == "var.workflow_log_level"


# -- IAM: exactly what each needs -------------------------------------------------


def test_the_state_machine_may_invoke_exactly_the_functions(workflow: Module) -> None:
    statements = _statements(workflow, "state_machine")
    invoke = statements.pop("InvokeWorkflowFunctions")
    assert invoke["actions"] == ["lambda:InvokeFunction"]
    assert expr(invoke["resources"]) == (
        'flatten([for fn in aws_lambda_function.this : [fn.arn, "${fn.arn}:*"]])'
    )
    assert set(statements) == {"DeliverExecutionLogs", "SendTracesToXRay"}
    for statement in statements.values():
        assert not any(a.startswith("lambda:") for a in statement["actions"])
        assert all(a.startswith(("logs:", "xray:")) for a in statement["actions"])
        assert all("*" not in a for a in statement["actions"])
    role = workflow.resources["aws_iam_role", "state_machine"]
    assume = expr(role["assume_role_policy"])
    assert 'Principal = {Service = "states.amazonaws.com"}' in assume
    assert '"aws:SourceArn" = local.state_machine_arn' in assume


def test_a_function_may_discover_log_trace_and_place_its_interfaces_only(
    workflow: Module,
) -> None:
    statements = _statements(workflow, "function")
    assert set(statements) == {
        "DiscoverMeshServices",
        "WriteOwnLogs",
        "SendTracesToXRay",
        "DescribeVpcNetworkInterfaces",
        "ManageVpcNetworkInterfaces",
    }
    discover = statements["DiscoverMeshServices"]
    assert discover["actions"] == [
        "servicediscovery:DiscoverInstances",
        "servicediscovery:DiscoverInstancesRevision",
    ]
    (condition,) = discover["condition"]
    assert condition["variable"] == "servicediscovery:NamespaceName"
    assert condition["values"] == ["${var.namespace_name}"]
    assert statements["WriteOwnLogs"]["resources"] == [
        "${aws_cloudwatch_log_group.function[each.key].arn}:*"
    ]
    describe = statements["DescribeVpcNetworkInterfaces"]
    assert all(a.startswith("ec2:Describe") for a in describe["actions"])
    manage = statements["ManageVpcNetworkInterfaces"]
    assert all(a.startswith("ec2:") for a in manage["actions"])
    # This account's and Region's EC2 resources only, as Lambda's guide allows.
    assert manage["resources"] == [
        "arn:${data.aws_partition.current.partition}:ec2:${var.region}:${var.account_id}:*/*"
    ]
    for statement in statements.values():
        assert all("*" not in a for a in statement["actions"])
    (function,) = workflow.resources_of("aws_lambda_function").values()
    # Lambda checks the ENI permissions when it creates the function.
    assert function["depends_on"] == ["${aws_iam_role_policy.function}"]


def test_orders_starts_and_completes_executions_and_nothing_else(
    env: Module, workflow: Module
) -> None:
    statements = _statements(workflow, "starter")
    assert statements["StartOrderWorkflow"]["actions"] == ["states:StartExecution"]
    assert statements["StartOrderWorkflow"]["resources"] == ["${aws_sfn_state_machine.this.arn}"]
    assert statements["CompletePaymentWait"]["actions"] == [
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
    ]
    assert statements["StopOrderWorkflow"]["actions"] == ["states:StopExecution"]
    assert statements["StopOrderWorkflow"]["resources"] == ["${local.executions_arn}"]
    assert set(statements) == {"StartOrderWorkflow", "CompletePaymentWait", "StopOrderWorkflow"}
    assert ":execution:${local.state_machine_name}:*" in expr(workflow.locals["executions_arn"])
    policy = workflow.resources["aws_iam_role_policy", "starter"]
    assert expr(policy["role"]) == "var.starter_role_name"
    assert expr(env.calls["workflow"]["starter_role_name"]) == (
        "module.service[local.workflow_starter].task_role_name"
    )
    assert env.locals["workflow_starter"] == "orders"
    assert env.locals["workflow_env"] == {
        "${(local.workflow_starter)}": {
            "MESH_WORKFLOW": "stepfunctions",
            "MESH_WORKFLOW_STATE_MACHINE_ARN": "${module.workflow.state_machine_arn}",
        }
    }
    assert "lookup(local.workflow_env, each.key, {})" in expr(env.calls["service"]["environment"])


def test_failed_and_timed_out_executions_alarm(env: Module, workflow: Module) -> None:
    (alarm,) = workflow.resources_of("aws_cloudwatch_metric_alarm").values()
    assert alarm["for_each"] == '${toset(["ExecutionsFailed", "ExecutionsTimedOut"])}'
    assert alarm["namespace"] == "AWS/States"
    assert alarm["dimensions"] == {"StateMachineArn": "${aws_sfn_state_machine.this.arn}"}
    assert expr(env.calls["workflow"]["alarm_topic_arn"]) == (
        'var.observability ? module.observability[0].alarm_topic_arn : ""'
    )


def test_the_package_path_defaults_to_the_scripts_output(env: Module) -> None:
    package = expr(env.calls["workflow"]["package_file"])
    default = re.search(r'"\$\{path\.module\}/([^"]+)"', package)
    assert default, package
    assert (ENV / default.group(1)).resolve() == ROOT / "dist" / "functions" / "functions.zip"
    assert Path(default.group(1)).name == "functions.zip"
