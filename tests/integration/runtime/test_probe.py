"""python -m mesh.probe: the container health check."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from mesh.server import MeshServer
from tests.support import slow_service


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh.probe", *args], capture_output=True, text=True, timeout=30
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_exit_codes_follow_health() -> None:
    server = MeshServer(slow_service.unit())
    await server.start()
    try:
        ok = await asyncio.to_thread(probe, "--addr", server.address)
        assert ok.returncode == 0 and "SERVING" in ok.stdout
        named = await asyncio.to_thread(probe, "--addr", server.address, "--service", "test.Slow")
        assert named.returncode == 0
        unknown = await asyncio.to_thread(probe, "--addr", server.address, "--service", "nope")
        assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
        await server.health.enter_graceful_shutdown()
        draining = await asyncio.to_thread(probe, "--addr", server.address)
        assert draining.returncode == 1 and "NOT_SERVING" in draining.stderr
    finally:
        await server.stop(0)


def test_unreachable_target_fails_fast() -> None:
    result = probe("--addr", f"127.0.0.1:{free_port()}", "--timeout", "0.5")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr or "DEADLINE" in result.stderr
    http = probe("--http", f"http://127.0.0.1:{free_port()}/healthz", "--timeout", "0.5")
    assert http.returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "0"],
        ["--timeout", "-1"],
        ["--timeout", "soon"],
        ["--http", "file:///etc/passwd"],
        ["--http", "gopher://x"],
        ["--addr", "127.0.0.1:1", "--http", "http://127.0.0.1:1/"],
        ["--bogus"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = probe(*args)
    assert result.returncode == 2, result
    assert "usage" in result.stderr.lower() or "error" in result.stderr.lower()
