"""Two inventory replicas as real processes; one stops during a steady CreateOrder stream."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc import aio

from mesh.discovery import HealthFilter, LocalRegistry
from tests.integration.mesh.support import Stream, seed, spawn_inventory
from tests.support.mesh import Running, serve
from tests.support.waiting import until, until_state

FAST = {
    "MESH_REGISTRY": "local",
    "MESH_DISCOVERY_POLL_SECONDS": "0.2",
    "MESH_DISCOVERY_REFRESH_SECONDS": "1",
    "MESH_REGISTRY_TTL_SECONDS": "1.5",
}


LOOPS = ("asyncio", "uvloop")


@dataclass
class Cluster:
    orders: Running
    catalog: Running
    replicas: list[subprocess.Popen[bytes]]
    registry: LocalRegistry


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    registry_file = tmp_path / "registry.json"
    env = {**FAST, "MESH_REGISTRY_FILE": str(registry_file), "MESH_DATA_DIR": str(tmp_path)}
    child_env = {
        **env,
        "MESH_PORT": "0",
        "INVENTORY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/inventory.db",
        "MESH_SHUTDOWN_GRACE_SECONDS": "5",
        "MESH_ACCESS_LOG": "false",
    }
    # One replica on each event loop (MESH_EVENT_LOOP): both serve the stream, and the
    # drills stop the uvloop one, whose signal handling is uvloop's.
    replicas = [
        spawn_inventory(tmp_path, i, {**child_env, "MESH_EVENT_LOOP": loop})
        for i, loop in enumerate(LOOPS)
    ]
    registry = LocalRegistry(registry_file)
    try:

        async def two_up() -> bool:
            return len(await registry.discover("inventory", health=HealthFilter.HEALTHY)) == 2

        await until(two_up, timeout=30, what="two inventory replicas")
        async with (
            serve(
                "catalog",
                f"sqlite+aiosqlite:///{tmp_path}/catalog.db",
                env={**env, "MESH_REGISTER": "true"},
            ) as catalog,
            serve("orders", f"sqlite+aiosqlite:///{tmp_path}/orders.db", env=env) as orders,
        ):
            instances = await registry.discover("inventory")
            port = int(instances[0].attributes["AWS_INSTANCE_PORT"])
            async with aio.insecure_channel(f"127.0.0.1:{port}") as inventory:
                await seed(catalog.channel, inventory)
            yield Cluster(orders, catalog, replicas, registry)
        for i, loop in enumerate(LOOPS):
            log = (tmp_path / f"inventory-{i}.log").read_text()
            assert f'"event_loop": "{loop}"' in log, log[-2000:]
    finally:
        for process in replicas:
            if process.poll() is None:
                process.kill()
            process.wait()
        await registry.close()


async def _drill(cluster: Cluster, sig: signal.Signals) -> Stream:
    """Kill one replica under a flowing stream; stop the stream once calls flowed without it."""
    stream = Stream(cluster.orders.channel)
    stream.start()
    await until_state(lambda: stream.ok >= 20, what="the stream flowing")
    before = stream.ok
    victim = cluster.replicas[1]
    victim.send_signal(sig)
    assert await asyncio.to_thread(victim.wait, 10) in (0, -signal.SIGKILL)
    if sig == signal.SIGTERM:
        # It deregistered itself before draining: gone from the registry as it exits.
        remaining = await cluster.registry.discover("inventory", health=HealthFilter.ALL)
        assert len(remaining) == 1
    else:
        # No goodbye from a SIGKILL: its lease expires and the registry forgets it.
        async def expired() -> bool:
            return len(await cluster.registry.discover("inventory", health=HealthFilter.ALL)) == 1

        await until(expired, timeout=10, what="the killed replica to expire")
    gone = stream.ok
    await until_state(lambda: stream.ok >= gone + 20, what="calls after the replica was gone")
    await stream.stop()
    assert stream.ok > before + 10, "the stream kept flowing after the replica stopped"
    return stream


async def test_sigterm_of_a_replica_fails_no_call(cluster: Cluster) -> None:
    stream = await _drill(cluster, signal.SIGTERM)
    print(f"SIGTERM drill: {stream.ok} calls ok, {len(stream.failures)} failed")
    assert stream.failures == []


async def test_sigkill_failures_are_bounded_by_the_retry_policy(cluster: Cluster) -> None:
    stream = await _drill(cluster, signal.SIGKILL)
    print(
        f"SIGKILL drill: {stream.ok} calls ok, {len(stream.failures)} failed: {stream.failures[:5]}"
    )
    # ReserveStock is idempotent, so calls caught on the dead replica are retried on the
    # other; at most the calls in flight at the moment of the kill may fail.
    assert len(stream.failures) <= stream.workers
    assert all(f.startswith("UNAVAILABLE") for f in stream.failures)
