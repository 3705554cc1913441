"""SIGTERM under the real server: ``python -m gateway`` drains, then stops.

The gateway runs as its production command in a subprocess, its three shop
backends pointed (static registry) at one echo server that reports SERVING.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from mesh.topology import load_topology
from tests.gateway_support.echo import start_echo_server
from tests.gateway_support.live import free_port
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[3]


@asynccontextmanager
async def backend(modules: tuple[ModuleType, ModuleType]) -> AsyncIterator[int]:
    server, port = await start_echo_server(*modules)
    try:
        yield port
    finally:
        await server.stop(None)


@contextmanager
def gateway_process(
    backend_port: int, tmp: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    target = f"127.0.0.1:{backend_port}"
    environ = {
        **os.environ,
        "MESH_REGISTRY": "static",
        # Every backend of services.yaml (the gateway is ready when all have endpoints).
        "MESH_STATIC_ENDPOINTS": ";".join(
            f"{spec.name}={target}"
            for spec in load_topology().services.values()
            if spec.protocol == "grpc"
        ),
        "MESH_DATA_DIR": str(tmp),
        "MESH_GATEWAY_PORT": str(port),
        "MESH_GATEWAY_ACCESS_LOG": "false",
        "MESH_GATEWAY_AUTH": "none",
        "MESH_GATEWAY_LOG_LEVEL": "warning",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=environ)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def readyz(client: httpx.AsyncClient, proc: subprocess.Popen[bytes], status: int) -> None:
    """Until the gateway's readiness probe answers ``status``; fails at once if it exits."""

    async def answers() -> bool:
        assert proc.poll() is None, f"the gateway exited with code {proc.returncode}"
        try:
            return (await client.get("/readyz")).status_code == status
        except httpx.TransportError:
            return False

    await until(answers, timeout=30, what=f"/readyz answering {status}")


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    await readyz(client, proc, 200)


async def test_sigterm_drains_with_readyz_503_while_serving_then_stops(
    echo_modules: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    drain = 2.0
    async with backend(echo_modules) as port:
        with gateway_process(port, tmp_path, MESH_GATEWAY_DRAIN_SECONDS=str(drain)) as (proc, url):
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                await wait_ready(client, proc)
                proc.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                await readyz(client, proc, 503)  # the signal was handled
                # Draining: not ready, but alive and serving on the same listener.
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["draining"] is True
                assert (await client.get("/healthz")).status_code == 200
                assert (await client.get("/openapi.json")).status_code == 200
                served = await client.get("/v1/products/p1")  # reaches the backend
                assert served.headers["content-type"] == "application/json"
                assert served.status_code == 501  # the echo server has no catalog
                while time.monotonic() - sent < drain - 0.4:
                    assert (await client.get("/readyz")).status_code == 503
                    # Sampling /readyz across the drain window: its length is under test.
                    await asyncio.sleep(0.2)
                assert proc.poll() is None, "stopped before the drain ended"
                code = await asyncio.to_thread(proc.wait, 15)
                stopped = time.monotonic() - sent
    assert drain - 0.1 <= stopped < drain + 10
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


async def test_drain_0_stops_at_once(
    echo_modules: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    async with backend(echo_modules) as port:
        with gateway_process(port, tmp_path, MESH_GATEWAY_DRAIN_SECONDS="0") as (proc, url):
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                await wait_ready(client, proc)
                proc.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                code = await asyncio.to_thread(proc.wait, 15)
    assert time.monotonic() - sent < 3
    assert code in (0, -signal.SIGTERM)


async def test_a_second_sigterm_ends_the_drain(
    echo_modules: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    async with backend(echo_modules) as port:
        with gateway_process(port, tmp_path, MESH_GATEWAY_DRAIN_SECONDS="30") as (proc, url):
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                await wait_ready(client, proc)
                proc.send_signal(signal.SIGTERM)
                await readyz(client, proc, 503)  # the first one was handled: draining
                proc.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                code = await asyncio.to_thread(proc.wait, 15)
    assert time.monotonic() - sent < 5
    assert code in (0, -signal.SIGTERM)


pytestmark = pytest.mark.timeout(90)
