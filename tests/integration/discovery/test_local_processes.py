"""The local registry shared by real processes: concurrent writers, and expiry of a dead one."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.discovery import LocalRegistry
from tests.integration.discovery.support import eventually

ROOT = Path(__file__).resolve().parents[3]
PER_PROCESS = 10


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def start(procs: list[subprocess.Popen[str]], path: Path, prefix: str, port: int) -> None:
    cmd = [sys.executable, "-m", "tests.integration.discovery.registrant"]
    cmd += [str(path), "catalog", prefix, str(PER_PROCESS), str(port)]
    procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True))


async def test_processes_register_concurrently_and_dead_ones_expire(
    tmp_path: Path, spawn: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "registry.json"
    for n in range(4):
        start(spawn, path, f"p{n}", 50100 + 100 * n)
    for proc in spawn:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"

    reader = LocalRegistry(path, ttl=1.0, heartbeat_interval=0.2)
    found = await reader.discover("catalog", max_results=1000)
    # No lost update: every register of every process is in the file.
    assert len(found) == 4 * PER_PROCESS
    assert await reader.revision("catalog") == 4 * PER_PROCESS
    await asyncio.sleep(1.5)  # longer than the TTL: the heartbeats keep everyone alive
    assert len(await reader.discover("catalog", max_results=1000)) == 4 * PER_PROCESS

    revision = await reader.revision("catalog")
    spawn[0].send_signal(signal.SIGKILL)  # no cleanup at all
    killed_at = time.monotonic()
    remaining = await eventually(
        lambda: reader.discover("catalog", max_results=1000),
        lambda f: len(f) == 3 * PER_PROCESS,
        within=5.0,
    )
    assert time.monotonic() - killed_at < 3.0
    assert {i.instance_id.split("-")[0] for i in remaining} == {"p1", "p2", "p3"}
    assert await reader.revision("catalog") != revision
