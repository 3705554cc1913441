"""The documented AWS path, step by step, has no step that fails as written.

Each test here pins one defect a newcomer hit (issue 12): the API URL's
trailing slash, ECS Exec against a read-only root file system, Fargate
CPU/memory pairs, the namespace shared by every environment, what destroy
left behind, and a README that pushed an image before its repository existed.
"""

from __future__ import annotations

import re
from itertools import product

import pytest

from mesh.topology import load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

GUIDE = ROOT / "docs" / "deploy.md"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def env() -> Module:
    return load_module(ENV)


@pytest.fixture(scope="module")
def ecs_service() -> Module:
    return load_module(MODULES / "ecs_service")


# -- the API URL ---------------------------------------------------------------


def test_the_api_url_has_no_trailing_slash() -> None:
    """``$API/v1/products`` must not become ``//v1/products`` (a 404 at the gateway)."""
    outputs = load_module(MODULES / "api_gateway").outputs
    assert expr(outputs["api_url"]["value"]) == (
        'trimsuffix(aws_apigatewayv2_stage.default.invoke_url, "/")'
    )
    guide = GUIDE.read_text(encoding="utf-8")
    assert '"$API/v1/' in guide
    assert '"$API//' not in guide


# -- ECS Exec ------------------------------------------------------------------


def test_ecs_exec_and_the_read_only_root_are_never_on_together(
    env: Module, ecs_service: Module
) -> None:
    (task,) = ecs_service.resources_of("aws_ecs_task_definition").values()
    container = expr(task["container_definitions"])
    assert "readonlyRootFilesystem = !var.enable_execute_command" in container
    assert "initProcessEnabled = var.enable_execute_command" in container
    (service,) = ecs_service.resources_of("aws_ecs_service").values()
    assert expr(service["enable_execute_command"]) == "var.enable_execute_command"
    assert expr(env.calls["service"]["enable_execute_command"]) == "var.enable_execute_command"
    # Off by default, so the default tasks keep a read-only root.
    assert env.variables["enable_execute_command"]["default"] is False


def test_the_guide_turns_ecs_exec_on_before_using_it() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    section = guide[guide.index("## 6.") : guide.index("## Identity")]
    turn_on = section.index("-var enable_execute_command=true")
    assert turn_on < section.index("aws ssm start-session")
    assert turn_on < section.index("aws ecs execute-command")
    assert "shop.local" not in section.replace("shop-dev.shop.local", ""), (
        "hosts come from terraform output cloudmap_namespace"
    )


# -- Fargate sizes -------------------------------------------------------------

# AWS's published table (Fargate, Linux, platform 1.4.0): CPU units -> MiB.
FARGATE: dict[int, set[int]] = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}

_ENTRY = re.compile(r'"(\d+)" = (?:tolist\(\[([\d, ]+)\]\)|range\((\d+), (\d+), (\d+)\))')


def _table(condition: str) -> dict[int, set[int]]:
    """The CPU -> memory table written in a validation condition."""
    table: dict[int, set[int]] = {}
    for cpu, listed, start, stop, step in _ENTRY.findall(expr(condition)):
        if listed:
            table[int(cpu)] = {int(m) for m in listed.split(",")}
        else:
            table[int(cpu)] = set(range(int(start), int(stop), int(step)))
    return table


def _conditions(module: Module, variable: str) -> list[str]:
    return [v["condition"] for v in module.variables[variable]["validation"]]


def test_the_fargate_table_is_the_real_one(env: Module, ecs_service: Module) -> None:
    (memory,) = _conditions(ecs_service, "memory")
    assert _table(memory) == FARGATE
    assert "tostring(var.cpu)" in memory and "var.memory)" in memory
    (task_memory,) = _conditions(env, "task_memory")
    assert _table(task_memory) == FARGATE
    (sizes,) = _conditions(env, "task_sizes")
    assert _table(sizes) == FARGATE
    for module, name in ((ecs_service, "cpu"), (env, "task_cpu")):
        (cpu,) = _conditions(module, name)
        listed = {int(n) for n in re.findall(r"\d+", cpu.split("]")[0])}
        assert listed == set(FARGATE), f"{module.name}: {name}"


@pytest.mark.parametrize(
    ("cpu", "memory", "accepted"),
    [
        (256, 512, True),
        (256, 2048, True),
        (256, 4096, False),
        (512, 512, False),
        (512, 1536, False),
        (1024, 2048, True),
        (4096, 30720, True),
        (4096, 31744, False),
        (8192, 20480, True),
        (8192, 17408, False),
    ],
)
def test_known_pairs(ecs_service: Module, cpu: int, memory: int, accepted: bool) -> None:
    (condition,) = _conditions(ecs_service, "memory")
    assert (memory in _table(condition).get(cpu, set())) is accepted


def test_the_default_sizes_are_a_valid_pair(env: Module, ecs_service: Module) -> None:
    for module, cpu, memory in ((env, "task_cpu", "task_memory"), (ecs_service, "cpu", "memory")):
        assert module.variables[memory]["default"] in FARGATE[module.variables[cpu]["default"]]
    # The cross-variable validation needs Terraform 1.9 in the module.
    versions = [b for p in ecs_service.everything for b in p.get("terraform", [])]
    assert versions[0]["required_version"] in (">= 1.9", ">= 1.11")


def test_every_pair_in_the_table_is_rejected_elsewhere() -> None:
    every_memory = set().union(*FARGATE.values())
    wrong = [(c, m) for c, m in product(FARGATE, every_memory) if m not in FARGATE[c]]
    assert (256, 4096) in wrong
    assert len(wrong) > 100


# -- environments side by side -------------------------------------------------


def test_the_namespace_is_per_environment(env: Module) -> None:
    assert env.calls["discovery"]["namespace"] == "${var.name}.${local.topology.namespace}"
    name = env.variables["name"]
    assert name["default"] == "shop-dev"
    # IAM, the task environment and the outputs all follow the module's name.
    ecs = env.calls["service"]
    assert expr(ecs["namespace_name"]) == "module.discovery.name"
    assert expr(env.outputs["cloudmap_namespace"]["value"]) == "module.discovery.name"


# -- teardown ------------------------------------------------------------------


def test_cloud_map_services_are_destroyed_with_leftover_instances(ecs_service: Module) -> None:
    (discovery,) = ecs_service.resources_of("aws_service_discovery_service").values()
    assert discovery["force_destroy"] is True


def test_log_groups_aws_would_create_are_declared(env: Module) -> None:
    data = env.call_target("data")
    (instance,) = data.resources_of("aws_db_instance").values()
    assert expr(instance["enabled_cloudwatch_logs_exports"]) == "local.log_exports"
    exports = data.resources[("aws_cloudwatch_log_group", "exports")]
    assert expr(exports["for_each"]) == "toset(local.log_exports)"
    assert exports["name"] == "/aws/rds/instance/${var.name}/${each.key}"
    assert "aws_cloudwatch_log_group.exports" in " ".join(instance["depends_on"])
    insights = env.resources[("aws_cloudwatch_log_group", "container_insights")]
    assert insights["name"] == "/aws/ecs/containerinsights/${var.name}/performance"
    (cluster,) = env.resources_of("aws_ecs_cluster").values()
    assert cluster["setting"][0] == {"name": "containerInsights", "value": "enabled"}
    assert "aws_cloudwatch_log_group.container_insights" in " ".join(cluster["depends_on"])
    for group in (*data.resources_of("aws_cloudwatch_log_group").values(), insights):
        assert "retention_in_days" in group and "kms_key_id" in group


def test_no_final_snapshot_by_default_and_the_guide_says_what_survives(env: Module) -> None:
    assert env.variables["db_skip_final_snapshot"]["default"] is True
    guide = GUIDE.read_text(encoding="utf-8")
    teardown = guide[guide.index("## 7. Tear down") : guide.index("## Operating notes")]
    assert "What survives, on purpose" in teardown
    for fact in ("kms_deletion_window_days", "copy-db-snapshot", "RDSOSMetrics", "force_destroy"):
        assert fact in teardown, fact
    assert "terraform destroy -var db_deletion_protection=false" in teardown


# -- README and the guide agree ------------------------------------------------


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]


def test_the_readme_deploys_in_the_guides_order() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## Deploy to AWS") :]
    commands = " ; ".join(_commands(section))
    steps = [
        "cp terraform.tfvars.example terraform.tfvars",
        "terraform init",
        "terraform apply -target=module.ecr",
        "scripts/push-image",
        "scripts/package-functions",
        "terraform apply",
        "output -raw api_url)/v1/products",
    ]
    positions: list[int] = []
    for step in steps:
        found = commands.find(step, positions[-1] + 1 if positions else 0)
        assert found >= 0, f"README's deploy quick start lacks {step!r} (in this order)"
        positions.append(found)
    guide = " ; ".join(_commands(GUIDE.read_text(encoding="utf-8")))
    for step in steps[:-1]:
        assert step in guide, step
    assert guide.index("terraform apply -target=module.ecr") < guide.index("scripts/push-image")


# -- the cost table counts what services.yaml runs ---------------------------


def test_the_cost_table_counts_the_tasks_services_yaml_runs() -> None:
    tasks = sum(s.replicas for s in load_topology(ROOT / "services.yaml").services.values())
    guide = GUIDE.read_text(encoding="utf-8")
    table = guide[guide.index("## Rough monthly cost") :]
    times = "\N{MULTIPLICATION SIGN}"
    assert f"| Fargate tasks | {tasks} {times} " in table
    assert f"{tasks} instances {times} $0.10" in table
    assert "Cognito" in table and "page-token key" in table
    rows = re.findall(r"^\| [^|*]+ \| .* \| ~(\d+) \|$", table, re.M)
    total = int(re.search(r"\*\*~(\d+)\*\*", table).group(1))  # type: ignore[union-attr]
    assert sum(int(r) for r in rows) == total
