from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mesh.topology import TopologyError, load_topology, parse_topology


def base() -> dict[str, Any]:
    return {
        "namespace": "shop.local",
        "services": {
            "a": {"module": "services.a", "grpc_service": "x.A", "port": 1000},
            "b": {"module": "services.b", "grpc_service": "x.B", "port": 1001, "depends_on": ["a"]},
        },
    }


def test_repository_file_is_valid() -> None:
    topology = load_topology()
    assert {"catalog", "inventory", "orders"} <= set(topology.services)
    order = [s.name for s in topology.start_order()]
    assert order.index("catalog") < order.index("orders")
    assert order.index("inventory") < order.index("orders")


def test_start_order_puts_dependencies_first() -> None:
    topology = parse_topology(base())
    assert [s.name for s in topology.start_order()] == ["a", "b"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("namespace"), "namespace"),
        (lambda d: d.update(services={}), "services"),
        (lambda d: d["services"]["a"].update(port=0), "services.a.port"),
        (lambda d: d["services"]["a"].update(port="80"), "services.a.port"),
        (lambda d: d["services"]["a"].update(port=True), "services.a.port"),
        (lambda d: d["services"]["b"].update(port=1000), "share a port"),
        (lambda d: d["services"]["a"].update(module="rm -rf /"), "services.a.module"),
        (lambda d: d["services"]["a"].update(replicas=0), "services.a.replicas"),
        (lambda d: d["services"]["a"].update(store="yes"), "services.a.store"),
        (lambda d: d["services"]["a"].update(store=True), "true is now .sql."),
        (lambda d: d["services"]["a"].update(forwards_principal="yes"), "forwards_principal"),
        (lambda d: d["services"]["a"].update(forwards_principal=True), "calls no one"),
        (lambda d: d["services"]["a"].update(protocol="ftp"), "services.a.protocol"),
        (lambda d: d["services"]["a"].update(colour="red"), "unknown keys"),
        (lambda d: d["services"]["a"].pop("grpc_service"), "grpc_service"),
        (lambda d: d["services"]["b"].update(depends_on=["ghost"]), "unknown 'ghost'"),
        (lambda d: d["services"]["a"].update(depends_on=["b"]), "cycle"),
        (
            lambda d: d["services"].update({"Bad Name": {"module": "m", "port": 5}}),
            "name must match",
        ),
        (lambda d: d["services"]["a"].update(env=["A=1"]), "services.a.env: must be a mapping"),
        (lambda d: d["services"]["a"].update(env={"lower": "1"}), "not a variable name"),
        (lambda d: d["services"]["a"].update(env={"A B": "1"}), "not a variable name"),
        (lambda d: d["services"]["a"].update(env={"X" * 65: "1"}), "not a variable name"),
        (lambda d: d["services"]["a"].update(env={"A": 1}), "services.a.env.A: must be a"),
        (lambda d: d["services"]["a"].update(env={"A": None}), "services.a.env.A: must be a"),
        (lambda d: d["services"]["a"].update(env={"A": "x\ny"}), "services.a.env.A"),
        (lambda d: d["services"]["a"].update(env={"A": "x" * 1025}), "services.a.env.A"),
        (
            lambda d: d["services"]["a"].update(env={f"V{i}": "1" for i in range(33)}),
            "at most 32",
        ),
        (
            lambda d: d["services"]["a"].update(env={"MESH_DB_PASSWORD": "hunter2"}),
            "looks like a secret",
        ),
        (
            lambda d: d["services"]["a"].update(env={"AWS_SECRET_ACCESS_KEY": "x"}),
            "looks like a secret",
        ),
    ],
)
def test_malformed_lists_are_refused_with_the_key(mutate: Any, message: str) -> None:
    data = base()
    mutate(data)
    with pytest.raises(TopologyError, match=message):
        parse_topology(data)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="not found"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [unclosed")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load_topology(bad)
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("!!python/object/apply:os.system ['true']")
    with pytest.raises(TopologyError):
        load_topology(hostile)


def test_env_is_parsed_sorted_and_defaults_to_none() -> None:
    data = base()
    data["services"]["a"]["env"] = {"ZED": "1", "GRPC_EXPERIMENTS": "-event_engine_client"}
    topology = parse_topology(data)
    assert topology["a"].env == (("GRPC_EXPERIMENTS", "-event_engine_client"), ("ZED", "1"))
    assert topology["b"].env == ()


def test_repository_gateway_runs_with_its_grpc_settings() -> None:
    env = dict(load_topology()["gateway"].env)
    assert "-event_engine_client" in env["GRPC_EXPERIMENTS"].split(",")


def with_function(**body: Any) -> dict[str, Any]:
    data = base()
    data["functions"] = {"settle": {"depends_on": ["a"], **body}}
    return data


def test_functions_are_parsed_with_defaults() -> None:
    topology = parse_topology(with_function())
    spec = topology.functions["settle"]
    assert (spec.depends_on, spec.timeout_seconds, spec.memory_mb) == (("a",), 10, 256)
    assert spec.reserved_concurrency is None
    assert spec.module == "functions.settle"
    assert parse_topology(base()).functions == {}
    data = base()
    data["functions"] = None
    assert parse_topology(data).functions == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"depends_on": []}, "functions.settle.depends_on: must be a non-empty list"),
        ({"depends_on": "a"}, "functions.settle.depends_on"),
        ({"depends_on": ["ghost"]}, "'ghost' is not a grpc service"),
        ({"depends_on": ["a", "a"]}, "named twice"),
        (
            {"depends_on": ["a"], "timeout_seconds": 0},
            "timeout_seconds: must be an integer in 1..900",
        ),
        ({"depends_on": ["a"], "timeout_seconds": 901}, "timeout_seconds"),
        ({"depends_on": ["a"], "timeout_seconds": "10"}, "timeout_seconds"),
        ({"depends_on": ["a"], "memory_mb": 64}, "memory_mb"),
        ({"depends_on": ["a"], "memory_mb": True}, "memory_mb"),
        ({"depends_on": ["a"], "reserved_concurrency": 0}, "reserved_concurrency"),
        ({"depends_on": ["a"], "reserved_concurrency": 10**9}, "reserved_concurrency"),
        ({"depends_on": ["a"], "handler": "os.system"}, "unknown keys"),
        ("settle", "functions.settle: must be a mapping"),
    ],
)
def test_malformed_functions_are_refused_with_the_key(body: Any, message: str) -> None:
    data = base()
    data["functions"] = {"settle": body}
    with pytest.raises(TopologyError, match=message):
        parse_topology(data)


@pytest.mark.parametrize("name", ["Settle", "await-payment", "1st", "x" * 41, "a.b", "../etc"])
def test_function_names_are_module_and_template_safe(name: str) -> None:
    data = base()
    data["functions"] = {name: {"depends_on": ["a"]}}
    with pytest.raises(TopologyError, match="name must match"):
        parse_topology(data)


def test_functions_must_be_a_mapping() -> None:
    data = base()
    data["functions"] = ["settle"]
    with pytest.raises(TopologyError, match="'functions' must be a mapping"):
        parse_topology(data)


def test_a_function_cannot_depend_on_the_http_gateway() -> None:
    data = base()
    data["services"]["gw"] = {"module": "gateway", "port": 8080, "protocol": "http"}
    data["functions"] = {"settle": {"depends_on": ["gw"]}}
    with pytest.raises(TopologyError, match="'gw' is not a grpc service"):
        parse_topology(data)


def test_repository_functions_have_a_module_each() -> None:
    root = Path(__file__).resolve().parents[2]
    functions = load_topology().functions
    assert functions, "services.yaml names the workflow's functions"
    for spec in functions.values():
        assert (root / "functions" / f"{spec.name}.py").is_file(), spec.name


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        ([60, 4], "must be a mapping of cpu_target and max_tasks"),
        ({"cpu_target": 60}, "must be a mapping of cpu_target and max_tasks"),
        ({"cpu_target": 60, "max_tasks": 4, "min": 1}, "must be a mapping"),
        ({"cpu_target": "60", "max_tasks": 4}, "scaling.cpu_target"),
        ({"cpu_target": True, "max_tasks": 4}, "scaling.cpu_target"),
        ({"cpu_target": 95, "max_tasks": 4}, "scaling.cpu_target"),
        ({"cpu_target": 5, "max_tasks": 4}, "scaling.cpu_target"),
        ({"cpu_target": 60.5, "max_tasks": 4}, "scaling.cpu_target"),
        ({"cpu_target": 60, "max_tasks": 1}, "scaling.max_tasks: must be an integer in replicas"),
        ({"cpu_target": 60, "max_tasks": 101}, "scaling.max_tasks"),
        ({"cpu_target": 60, "max_tasks": 10**12}, "scaling.max_tasks"),
        ({"cpu_target": 60, "max_tasks": None}, "scaling.max_tasks"),
    ],
)
def test_malformed_scaling_is_refused_with_the_key(scaling: Any, message: str) -> None:
    data = base()
    data["services"]["a"].update(replicas=2, scaling=scaling)
    with pytest.raises(TopologyError, match=f"services.a.*{message}"):
        parse_topology(data)


def test_scaling_is_optional_and_read_when_given() -> None:
    data = base()
    data["services"]["a"]["scaling"] = {"cpu_target": 55, "max_tasks": 12}
    topology = parse_topology(data)
    scaling = topology["a"].scaling
    assert scaling is not None
    assert (scaling.cpu_target, scaling.max_tasks) == (55, 12)
    assert topology["b"].scaling is None
