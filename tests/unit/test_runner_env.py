"""What environment scripts/run gives each replica."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mesh.localobs import SIDE_PORT_OFFSET
from mesh.runner import _ephemeral_ports, child_env, free_offset, run
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


def test_restart_backoff_grows_with_jitter_and_a_cap() -> None:
    import random

    from mesh.runner import RESTART_BACKOFF_MAX, restart_delay

    rng = random.Random(7)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (10, RESTART_BACKOFF_MAX)]:
        delays = [restart_delay(attempt, rng) for _ in range(200)]
        assert base / 2 <= min(delays) and max(delays) <= base
        assert len(set(delays)) > 100  # jittered, not in lockstep


def test_a_log_tail_is_the_last_lines(tmp_path: Path) -> None:
    from mesh.runner import log_tail

    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(str(log), 3) == "    line 97\n    line 98\n    line 99"
    assert "unreadable" in log_tail(str(tmp_path / "missing.log"))


def test_a_bad_workflow_setting_stops_the_runner_before_it_starts_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MESH_WORKFLOW", "bogus")
    code = asyncio.run(run(load_topology(), [], tmp_path / "data", ready_timeout=5))
    assert code == 2
    assert "MESH_WORKFLOW='bogus' is invalid" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()  # nothing was started or written


def test_a_free_offset_keeps_every_port_out_of_the_ephemeral_range() -> None:
    # An outgoing connection may take any ephemeral port at any time: a service
    # port there fails to bind now and then (seen in a drill).
    topology = load_topology()
    ephemeral = _ephemeral_ports()
    for _ in range(20):
        offset = free_offset(topology)
        for spec in topology.services.values():
            for port in (spec.port + offset, spec.port + offset + SIDE_PORT_OFFSET):
                assert 1024 <= port <= 65535 and port not in ephemeral, (spec.name, port)
