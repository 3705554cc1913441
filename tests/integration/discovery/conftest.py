"""Fixtures: moto's Cloud Map on loopback, and one factory per registry back end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    CloudMapRegistry,
    LocalRegistry,
    MemoryRegistry,
    Registry,
    StaticRegistry,
)
from tests.integration.discovery.support import SERVICES, create_namespace
from tests.support.moto import moto_server

Seed = dict[str, list[tuple[str, int]]]
MakeRegistry = Callable[[Seed], Awaitable[Registry]]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server mode on 127.0.0.1, a free port; real HTTP, real boto3."""
    with moto_server() as url:
        yield url


def _cloudmap(moto_url: str) -> CloudMapRegistry:
    return CloudMapRegistry(create_namespace(moto_url), endpoint_url=moto_url, region="us-east-1")


@pytest.fixture(params=["memory", "local", "cloudmap"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Registry]:
    """Every writable back end, fresh and empty, knowing the services catalog and inventory."""
    reg: Registry
    if request.param == "memory":
        reg = MemoryRegistry(SERVICES)
    elif request.param == "local":
        reg = LocalRegistry(tmp_path / "registry.json", services=SERVICES)
    else:
        reg = _cloudmap(request.getfixturevalue("moto_url"))
    yield reg
    await reg.close()


@pytest.fixture(params=["memory", "local", "cloudmap", "static"])
async def make_registry(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MakeRegistry]:
    """Every back end, static included, holding the given instances (id, port) on 127.0.0.1."""
    made: list[Registry] = []

    async def make(seed: Seed) -> Registry:
        reg: Registry
        if request.param == "static":
            spec = ";".join(
                f"{svc}=" + ",".join(f"127.0.0.1:{port}" for _, port in items)
                for svc, items in seed.items()
            )
            reg = StaticRegistry(spec)
        else:
            if request.param == "memory":
                reg = MemoryRegistry(SERVICES)
            elif request.param == "local":
                reg = LocalRegistry(tmp_path / "registry.json", services=SERVICES)
            else:
                reg = _cloudmap(request.getfixturevalue("moto_url"))
            for svc, items in seed.items():
                for instance_id, port in items:
                    attrs = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port)}
                    await reg.register(svc, instance_id, attrs)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        await reg.close()
