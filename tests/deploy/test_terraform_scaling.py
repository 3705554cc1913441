"""Autoscaling comes from services.yaml's ``scaling:`` blocks, whose numbers
docs/capacity.md derives from ``scripts/bench orders``: the capacity table, the
file and the Terraform that reads it agree."""

from __future__ import annotations

import math
import re

import pytest

from mesh.topology import Topology, load_topology
from tests.deploy.terraform import ENV, MODULES, ROOT, Module, expr, load_module

CAPACITY = ROOT / "docs" / "capacity.md"
# The services every order goes through: each must have its numbers.
ORDER_PATH = ("gateway", "orders", "catalog", "inventory")


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "services.yaml")


def _capacity_table() -> dict[str, dict[str, str]]:
    """The rows of docs/capacity.md's table whose header has "cpu target", by service."""
    lines = CAPACITY.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        if "cpu target" in cells and "max tasks" in cells:
            rows = {}
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                values = [c.strip().strip("`*") for c in row.strip().strip("|").split("|")]
                rows[values[0]] = dict(zip(cells, values, strict=True))
            return rows
    raise AssertionError("docs/capacity.md has no table with 'cpu target' and 'max tasks'")


def test_the_environment_reads_scaling_from_services_yaml() -> None:
    env = load_module(ENV)
    services = expr(env.locals["services"])
    assert "cpu_target = try(svc.scaling.cpu_target, 60)" in services
    assert "max_tasks = try(svc.scaling.max_tasks, var.max_replicas)" in services
    call = env.calls["service"]
    assert expr(call["cpu_target_percent"]) == "each.value.cpu_target"
    assert expr(call["max_count"]) == "max(each.value.replicas, each.value.max_tasks)"


def test_the_module_tracks_cpu_with_those_numbers() -> None:
    module: Module = load_module(MODULES / "ecs_service")
    target = module.resources[("aws_appautoscaling_target", "this")]
    assert expr(target["max_capacity"]) == "max(var.desired_count, var.max_count)"
    assert expr(target["min_capacity"]) == "var.desired_count"
    policy = module.resources[("aws_appautoscaling_policy", "cpu")]
    config = policy["target_tracking_scaling_policy_configuration"][0]
    assert expr(config["target_value"]) == "var.cpu_target_percent"
    metric = config["predefined_metric_specification"][0]["predefined_metric_type"]
    assert metric == "ECSServiceAverageCPUUtilization"
    # The environment's fallback is the module's own default.
    assert module.variables["cpu_target_percent"]["default"] == 60


def test_every_service_on_the_order_path_has_its_numbers(topology: Topology) -> None:
    for name in ORDER_PATH:
        assert topology[name].scaling is not None, f"services.yaml: {name} has no scaling block"


def test_the_capacity_table_is_what_services_yaml_says(topology: Topology) -> None:
    table = _capacity_table()
    scaled = {name for name, spec in topology.services.items() if spec.scaling is not None}
    assert set(table) == scaled, f"docs/capacity.md rows {sorted(table)} != {sorted(scaled)}"
    for name, row in table.items():
        scaling = topology[name].scaling
        assert scaling is not None
        target = re.fullmatch(r"(\d+) ?%", row["cpu target"])
        assert target is not None, row
        assert int(target.group(1)) == scaling.cpu_target, f"{name}: {row}"
        assert int(row["max tasks"]) == scaling.max_tasks, f"{name}: {row}"
        assert scaling.max_tasks >= topology[name].replicas


def test_the_task_counts_follow_from_the_cpu_figures() -> None:
    """tasks = vCPU / CPU target, rounded up; vCPU at 10k is ten times that at 1k."""
    for name, row in _capacity_table().items():
        target = int(row["cpu target"].rstrip(" %")) / 100
        at_1k, at_10k = float(row["vcpu at 1k orders/s"]), float(row["vcpu at 10k orders/s"])
        assert at_10k == pytest.approx(10 * at_1k), f"{name}: {row}"
        for vcpu, tasks in ((at_1k, "tasks at 1k orders/s"), (at_10k, "tasks at 10k orders/s")):
            assert int(row[tasks]) == math.ceil(round(vcpu / target, 6)), f"{name}: {row}"
        assert int(row["max tasks"]) == int(row["tasks at 1k orders/s"]), f"{name}: {row}"
