"""The endpoint cache over Cloud Map while the Cloud Map endpoint really goes away.

moto runs as its own process here so that stopping it is a real outage
(connection refused), then comes back empty on the same port.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    CloudMapRegistry,
    EndpointWatcher,
)
from tests.integration.discovery.support import aws_test_env, create_namespace, free_port
from tests.support.waiting import accepts, until_state, until_sync

NAMESPACE = "outage.shop.local"


class MotoProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        env = {**os.environ, **aws_test_env()}
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        until_sync(lambda: accepts(self.port), timeout=20, what="moto listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def moto_process() -> Iterator[MotoProcess]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in aws_test_env().items():
            mp.setenv(key, value)
        moto = MotoProcess()
        moto.start()
        yield moto
        moto.stop()


async def seed(url: str, ports: list[int]) -> None:
    registry = CloudMapRegistry(NAMESPACE, endpoint_url=url, region="us-east-1")
    for port in ports:
        attrs = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port)}
        await registry.register("inventory", f"i-{port}", attrs)
    await registry.close()


async def test_last_good_set_survives_a_registry_outage(moto_process: MotoProcess) -> None:
    create_namespace(moto_process.url, name=NAMESPACE)
    await seed(moto_process.url, [50052, 50062])
    registry = CloudMapRegistry(
        NAMESPACE,
        endpoint_url=moto_process.url,
        region="us-east-1",
        max_attempts=1,
        connect_timeout=0.5,
        read_timeout=1.0,
    )
    watcher = EndpointWatcher(
        registry, "inventory", poll_interval=0.05, full_refresh_interval=0.5, backoff_max=0.3
    )
    watcher.start()
    assert await watcher.wait_ready(5.0)
    good = watcher.endpoints
    assert {e.port for e in good} == {50052, 50062}

    moto_process.stop()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert watcher.endpoints == good  # never empty, never partial
        # Sampling across an outage of fixed length: the backoff count below is per time.
        await asyncio.sleep(0.02)
    assert watcher.failures >= 3
    errors = watcher.calls["errors"]
    assert errors <= 15  # backed off: not one attempt per 50 ms poll

    moto_process.start()  # back, and the instance set changed meanwhile
    create_namespace(moto_process.url, name=NAMESPACE)
    await seed(moto_process.url, [50072])
    await until_state(
        lambda: {e.port for e in watcher.endpoints} == {50072}, timeout=5, what="the new set"
    )
    assert watcher.failures == 0
    await watcher.stop()
    await registry.close()
