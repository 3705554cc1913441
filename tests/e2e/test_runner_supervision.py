"""scripts/run supervises like ECS: a replica killed by a signal comes back (the
first one on its own port) while the others keep serving; a process that
cannot start at all still stops the mesh at once, with its log's last lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mesh.probe import check_grpc
from mesh.runner import free_offset
from mesh.topology import load_topology
from tests.support.waiting import until_line, until_sync

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def runner(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    out = tmp_path / "run.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mesh.runner", "--data-dir", str(tmp_path / "data"), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ},
        )
    try:
        yield process, out
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(60)


def pids(data: Path, service: str) -> dict[int, int]:
    """port -> pid of the service's registered replicas (the local registry file)."""
    found = {}
    state = json.loads((data / "registry.json").read_text())
    instances = state.get("services", {}).get(service, {}).get("instances", {})
    for record in instances.values():
        attributes = record["attributes"]
        pid = attributes.get("pid", record.get("pid"))
        found[int(attributes["AWS_INSTANCE_PORT"])] = int(pid)
    return found


def test_a_killed_replica_is_restarted_and_the_others_keep_serving(tmp_path: Path) -> None:
    offset = free_offset()
    port = load_topology()["catalog"].port + offset
    with runner(tmp_path, "--only", "catalog", "--port-offset", str(offset)) as (process, out):
        until_sync(lambda: "Press Ctrl-C" in out.read_text(), timeout=120, what="the mesh")
        data = tmp_path / "data"
        until_sync(lambda: len(pids(data, "catalog")) == 2, what="both replicas registered")
        before = pids(data, "catalog")
        [other_port] = [p for p in before if p != port]

        # The second replica, SIGKILL: back on some free port; the first serves throughout.
        os.kill(before[other_port], signal.SIGKILL)
        until_sync(
            lambda: "exited  catalog-1" in out.read_text(), what="the runner to see the exit"
        )
        assert check_grpc(f"127.0.0.1:{port}", "", 2.0)[0]
        until_sync(lambda: "(restarted)" in out.read_text(), timeout=60, what="the restart")

        # The first replica, SIGTERM: back on its documented port.
        os.kill(before[port], signal.SIGTERM)
        until_sync(
            lambda: out.read_text().count("(restarted)") == 2, timeout=60, what="the restart"
        )
        assert (
            f"ready   catalog-0    127.0.0.1:{port}"
            in out.read_text().split("exited  catalog-0")[1]
        )
        assert check_grpc(f"127.0.0.1:{port}", "", 2.0)[0]
        assert process.poll() is None  # the mesh never stopped

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out.read_text()
        assert "stopped catalog-0" in out.read_text()


def test_stopping_while_a_replica_awaits_its_restart_exits_zero(tmp_path: Path) -> None:
    """Seen in a chaos run: Ctrl-C between a replica's death and its restart exited 1."""
    offset = free_offset()
    port = load_topology()["catalog"].port + offset
    with runner(tmp_path, "--only", "catalog", "--port-offset", str(offset)) as (process, out):
        until_line(out, "Press Ctrl-C", process=process, timeout=120)
        data = tmp_path / "data"
        killed: set[int] = set()

        def second() -> list[int]:
            """catalog-1's pid, once registered (a killed one lingers until its lease ends)."""
            return [p for at, p in pids(data, "catalog").items() if at != port and p not in killed]

        def restarted() -> int:
            return out.read_text().count("(restarted)")

        for restart in (1, 2, 3):
            until_sync(lambda: restarted() == len(killed), what="the last restart")
            [other] = until_sync(second, what="catalog-1 registered")
            os.kill(other, signal.SIGKILL)
            killed.add(other)
            # The backoff doubles: the third restart waits at least 1 s, the window to stop in.
            until_line(out, f"(restart {restart} within", process=process)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out.read_text()
    text = out.read_text()
    assert "stopped catalog-1 (already down: exit -9)" in text, text
    assert text.count("(restarted)") == 2, text  # the third restart never came
    assert "stopped catalog-0 (exit 0)" in text or "stopped catalog-0 (exit -15)" in text, text


def test_a_process_that_cannot_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    offset = free_offset()
    port = load_topology()["catalog"].port + offset
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with runner(tmp_path, "--only", "catalog", "--port-offset", str(offset)) as (process, out):
            assert process.wait(60) == 1
    text = out.read_text()
    assert "catalog-0 exited with code" in text
    assert "the end of" in text and "cannot" in text.split("the end of")[1]
