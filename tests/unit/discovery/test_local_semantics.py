"""The local back end's own rules: leases, expiry and the revision (exact values are ours)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mesh.discovery import (
    AWS_INIT_HEALTH_STATUS,
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    HealthStatus,
    LocalRegistry,
    RegistryUnavailable,
)

ADDR = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "50051"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_revision_counts_membership_not_health(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "r.json")
    await registry.register("catalog", "c1", ADDR)
    await registry.register("catalog", "c2", ADDR)
    assert await registry.revision("catalog") == 2
    await registry.set_health("catalog", "c1", False)
    assert await registry.revision("catalog") == 2
    await registry.deregister("catalog", "c2")
    assert await registry.revision("catalog") == 3
    await registry.close()


async def test_silent_instances_expire_and_bump_the_revision(tmp_path: Path) -> None:
    clock = Clock()
    writer = LocalRegistry(tmp_path / "r.json", ttl=3.0, heartbeat_interval=1.0, clock=clock)
    reader = LocalRegistry(tmp_path / "r.json", ttl=3.0, heartbeat_interval=1.0, clock=clock)
    await writer.register("catalog", "c1", ADDR)
    await writer.close()  # the process "dies": no more heartbeats
    clock.now += 2.9
    assert len(await reader.discover("catalog")) == 1
    clock.now += 0.2
    assert await reader.discover("catalog") == []
    assert await reader.revision("catalog") == 2


async def test_heartbeat_renews_and_releases_an_expired_lease(tmp_path: Path) -> None:
    clock = Clock()
    registry = LocalRegistry(tmp_path / "r.json", ttl=3.0, heartbeat_interval=1.0, clock=clock)
    await registry.register("catalog", "c1", ADDR)
    await registry.set_health("catalog", "c1", False)
    clock.now += 2.0
    await registry.heartbeat()
    clock.now += 2.0
    assert len(await registry.discover("catalog")) == 1  # renewed
    clock.now += 10.0
    assert await registry.discover("catalog") == []  # paused too long: expired
    await registry.heartbeat()  # still alive: it comes back, with its health
    [back] = await registry.discover("catalog")
    assert back.health is HealthStatus.UNHEALTHY
    await registry.close()


async def test_init_health_status_attribute(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "r.json")
    await registry.register("catalog", "c1", {**ADDR, AWS_INIT_HEALTH_STATUS: "UNHEALTHY"})
    [instance] = await registry.discover("catalog")
    assert instance.health is HealthStatus.UNHEALTHY
    await registry.close()


async def test_writes_are_atomic_json(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "r.json"
    registry = LocalRegistry(path)
    await registry.register("catalog", "c1", ADDR)
    state = json.loads(path.read_text(encoding="utf-8"))
    assert state["services"]["catalog"]["instances"]["c1"]["attributes"] == ADDR
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []
    await registry.close()


async def test_unreadable_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("[1, 2", encoding="utf-8")
    registry = LocalRegistry(path)
    with pytest.raises(RegistryUnavailable, match="not valid JSON"):
        await registry.discover("catalog")
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(RegistryUnavailable, match="layout"):
        await registry.revision("catalog")
    path.unlink()
    path.mkdir()  # a directory where the file should be
    with pytest.raises(RegistryUnavailable):
        await registry.discover("catalog")
