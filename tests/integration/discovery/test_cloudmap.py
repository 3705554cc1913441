"""Cloud Map specifics, against moto's server on loopback (real HTTP, real boto3)."""

from __future__ import annotations

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    CloudMapRegistry,
    RegistryUnavailable,
    ServiceNotFound,
)
from tests.integration.discovery.support import create_namespace, free_port


async def test_unreachable_endpoint_is_unavailable(moto_url: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    registry = CloudMapRegistry(
        "shop.local", endpoint_url=closed, region="us-east-1", max_attempts=1
    )
    with pytest.raises(RegistryUnavailable):
        await registry.revision("catalog")
    with pytest.raises(RegistryUnavailable):
        await registry.discover("catalog")
    with pytest.raises(RegistryUnavailable):
        await registry.register("catalog", "c1", {AWS_INSTANCE_IPV4: "127.0.0.1"})
    await registry.close()


async def test_unknown_namespace(moto_url: str) -> None:
    registry = CloudMapRegistry("absent.local", endpoint_url=moto_url, region="us-east-1")
    with pytest.raises(ServiceNotFound):
        await registry.discover("catalog")
    with pytest.raises(ServiceNotFound):
        await registry.register("catalog", "c1", {AWS_INSTANCE_IPV4: "127.0.0.1"})
    await registry.close()


async def test_same_service_name_in_two_namespaces_stays_apart(moto_url: str) -> None:
    first = CloudMapRegistry(create_namespace(moto_url), endpoint_url=moto_url, region="us-east-1")
    second = CloudMapRegistry(create_namespace(moto_url), endpoint_url=moto_url, region="us-east-1")
    attrs = {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "50051"}
    await first.register("catalog", "only-in-first", attrs)
    assert [i.instance_id for i in await first.discover("catalog")] == ["only-in-first"]
    assert await second.discover("catalog") == []
    await first.close()
    await second.close()


def test_host_prefix_only_disabled_for_an_explicit_endpoint(moto_url: str) -> None:
    aws = CloudMapRegistry("shop.local", region="us-east-1")
    local = CloudMapRegistry("shop.local", endpoint_url=moto_url, region="us-east-1")
    assert aws._client.meta.config.inject_host_prefix is True
    assert local._client.meta.config.inject_host_prefix is False
    aws._client.close()
    local._client.close()
