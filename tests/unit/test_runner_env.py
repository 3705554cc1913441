"""What environment scripts/run gives each replica."""

from __future__ import annotations

from pathlib import Path

from mesh.runner import child_env
from mesh.topology import load_topology, parse_topology


def test_services_yaml_env_is_a_default_the_caller_can_override(tmp_path: Path) -> None:
    spec = load_topology()["gateway"]
    (key, value), *_ = spec.env
    env = child_env(spec, 0, 8080, tmp_path, {}, {"LANG": "C.UTF-8"})
    assert env[key] == value
    assert env["LANG"] == "C.UTF-8"
    overridden = child_env(spec, 0, 8080, tmp_path, {}, {key: "mine"})
    assert overridden[key] == "mine"


def test_the_runner_settings_win_over_services_yaml_and_caller(tmp_path: Path) -> None:
    spec = parse_topology(
        {
            "namespace": "n",
            "services": {
                "a": {"module": "m", "grpc_service": "x.A", "port": 7000, "env": {"MESH_PORT": "1"}}
            },
        }
    )["a"]
    env = child_env(spec, 2, 7001, tmp_path, {"MESH_EXTRA": "e"}, {"MESH_PORT": "2"})
    assert env["MESH_PORT"] == "7001"
    assert env["MESH_REPLICA"] == "2"
    assert env["MESH_DATA_DIR"] == str(tmp_path)
    assert env["MESH_EXTRA"] == "e"
