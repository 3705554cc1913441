"""EndpointWatcher against real registries (memory, and a local file broken for real)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    Endpoint,
    EndpointWatcher,
    LocalRegistry,
    MemoryRegistry,
    Registry,
    backoff_delay,
)
from mesh.discovery.watcher import jittered
from tests.support.quota import QuotaRegistry
from tests.support.waiting import until_state

POLL = 0.02


def addr(port: int) -> dict[str, str]:
    return {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port)}


def ports(watcher: EndpointWatcher) -> set[int]:
    return {e.port for e in watcher.endpoints}


@pytest.fixture
async def memory() -> MemoryRegistry:
    reg = MemoryRegistry(["catalog"])
    await reg.register("catalog", "c1", addr(50051))
    await reg.register("catalog", "c2", addr(50061))
    return reg


def watch(registry: Registry, *, full_refresh_interval: float = 60.0) -> EndpointWatcher:
    return EndpointWatcher(
        registry,
        "catalog",
        poll_interval=POLL,
        full_refresh_interval=full_refresh_interval,
        backoff_max=0.2,
        rng=random.Random(7),
    )


async def test_ready_with_the_current_set(memory: MemoryRegistry) -> None:
    watcher = watch(memory)
    watcher.start()
    assert await watcher.wait_ready(2.0)
    assert ports(watcher) == {50051, 50061}
    await watcher.stop()


async def test_refetches_only_when_the_revision_moves(memory: MemoryRegistry) -> None:
    watcher = watch(memory)
    watcher.start()
    await watcher.wait_ready(2.0)
    await until_state(lambda: watcher.calls["revision"] >= 10, timeout=3, what="10 polls")
    assert watcher.calls["discover"] == 1  # many revision polls, one fetch

    await memory.register("catalog", "c3", addr(50071))
    await until_state(lambda: ports(watcher) == {50051, 50061, 50071}, timeout=3)
    await memory.deregister("catalog", "c1")
    await until_state(lambda: ports(watcher) == {50061, 50071}, timeout=3)
    assert watcher.calls["discover"] == 3
    await watcher.stop()


async def test_periodic_full_refresh_sees_health_changes(memory: MemoryRegistry) -> None:
    # Health does not move the revision: only the full refresh can see it.
    slow = watch(memory)
    fast = watch(memory, full_refresh_interval=0.1)
    slow.start()
    fast.start()
    await slow.wait_ready(2.0)
    await fast.wait_ready(2.0)
    await memory.set_health("catalog", "c2", False)
    await until_state(lambda: ports(fast) == {50051}, timeout=3)
    assert ports(slow) == {50051, 50061}
    await slow.stop()
    await fast.stop()


async def test_empty_only_when_the_registry_says_so(memory: MemoryRegistry) -> None:
    watcher = watch(memory)
    watcher.start()
    await watcher.wait_ready(2.0)
    await memory.deregister("catalog", "c1")
    await memory.deregister("catalog", "c2")
    await until_state(lambda: watcher.endpoints == (), timeout=3)
    await watcher.stop()


async def test_keeps_the_last_good_set_while_the_file_is_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "registry.json"
    registry = LocalRegistry(path, ttl=60.0, heartbeat_interval=30.0)
    await registry.register("catalog", "c1", addr(50051))
    watcher = watch(registry)
    watcher.start()
    await watcher.wait_ready(2.0)
    good = path.read_bytes()

    path.write_text("{ this is not json", encoding="utf-8")  # a real unreadable registry
    outage = 1.0
    seen: set[tuple[Endpoint, ...]] = set()
    before = watcher.calls["revision"]
    deadline = time.monotonic() + outage
    while time.monotonic() < deadline:
        seen.add(watcher.endpoints)
        # Sampling across an outage of fixed length: the backoff count below is per time.
        await asyncio.sleep(0.01)
    # The whole time: the same non-empty set, never an empty one.
    assert {tuple(e.port for e in s) for s in seen} == {(50051,)}
    assert watcher.failures >= 3
    # Backoff: far fewer attempts than one per poll interval (50 at 20 ms).
    assert watcher.calls["revision"] - before <= 15
    assert any("keeping 1 endpoint" in r.getMessage() for r in caplog.records)

    path.write_bytes(good)
    await registry.register("catalog", "c2", addr(50061))
    await until_state(lambda: ports(watcher) == {50051, 50061}, timeout=3)
    assert watcher.failures == 0
    await watcher.stop()
    await registry.close()


async def test_not_ready_while_the_registry_never_answered(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("garbage", encoding="utf-8")
    watcher = watch(LocalRegistry(path))
    watcher.start()
    assert not await watcher.wait_ready(0.2)
    assert watcher.endpoints == ()
    assert watcher.calls["errors"] >= 1
    await watcher.stop()


async def test_bad_data_is_skipped_and_logged(
    memory: MemoryRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    await memory.register("catalog", "bad-port", addr(0))
    await memory.register("catalog", "no-ip", {AWS_INSTANCE_PORT: "50081"})
    await memory.register(
        "catalog", "text-port", {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "http"}
    )
    watcher = watch(memory)
    with caplog.at_level(logging.WARNING, logger="mesh.discovery"):
        watcher.start()
        await watcher.wait_ready(2.0)
    assert ports(watcher) == {50051, 50061}
    assert {r.__dict__.get("instance_id") for r in caplog.records} >= {
        "bad-port",
        "no-ip",
        "text-port",
    }
    await watcher.stop()


async def test_subscribers_hear_each_change(memory: MemoryRegistry) -> None:
    watcher = watch(memory)
    heard: list[set[int]] = []

    def broken(_: tuple[Endpoint, ...]) -> None:
        raise RuntimeError("a listener bug must not stop the watcher")

    watcher.subscribe(broken)
    unsubscribe = watcher.subscribe(lambda eps: heard.append({e.port for e in eps}))
    watcher.start()
    updates = watcher.updates()
    assert {e.port for e in await anext(updates)} == {50051, 50061}
    await memory.register("catalog", "c3", addr(50071))
    assert {e.port for e in await anext(updates)} == {50051, 50061, 50071}
    assert heard == [{50051, 50061}, {50051, 50061, 50071}]
    unsubscribe()
    await memory.deregister("catalog", "c3")
    assert {e.port for e in await anext(updates)} == {50051, 50061}
    assert len(heard) == 2
    await watcher.stop()
    with pytest.raises(StopAsyncIteration):
        await anext(updates)


def test_backoff_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(1)
    for failures, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (10, 1.0)]:
        for _ in range(50):
            delay = backoff_delay(failures, 0.1, 1.0, rng)
            assert ceiling / 2 <= delay <= ceiling
    assert len({backoff_delay(3, 0.1, 1.0, rng) for _ in range(10)}) > 1  # jittered


def test_intervals_are_validated() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        EndpointWatcher(MemoryRegistry(), "catalog", poll_interval=1.0, full_refresh_interval=0.5)


async def test_a_throttled_registry_stretches_polling_and_keeps_the_endpoints(
    memory: MemoryRegistry,
) -> None:
    """Ten clients offer 500 revision calls a second to a quota of 40: they slow down
    together, keep serving their endpoints, and speed up again once the quota is lifted."""
    quota = QuotaRegistry(memory, revision_rate=40, discover_rate=40)
    watchers = [watch(quota) for _ in range(10)]
    for watcher in watchers:
        watcher.start()
    try:
        await until_state(lambda: all(w.ready for w in watchers), timeout=3)
        await until_state(lambda: all(w.calls["throttled"] > 0 for w in watchers), timeout=3)
        await until_state(lambda: all(w.interval > 4 * POLL for w in watchers), timeout=3)
        assert all(ports(w) == {50051, 50061} for w in watchers)  # never lost meanwhile
        assert all(w.calls["errors"] == 0 for w in watchers)  # throttled is not an outage
        quota.lift()
        await until_state(lambda: all(w.interval == POLL for w in watchers), timeout=5)
    finally:
        for watcher in watchers:
            await watcher.stop()


def test_jitter_stays_within_ten_percent() -> None:
    rng = random.Random(3)
    delays = [jittered(1.0, rng) for _ in range(1000)]
    assert 0.9 <= min(delays) < 0.95 and 1.05 < max(delays) <= 1.1
