"""The registry contract: every back end passes the same tests.

Written for Cloud Map's documented behaviour, not for an emulator's: no test
reads a revision's value or direction (only that it changed or did not),
and health outcomes are awaited with ``eventually`` (AWS applies custom
health after about 30 s, moto and the embedded back ends at once).
"""

from __future__ import annotations

import logging

import pytest

from mesh.discovery import (
    AWS_INSTANCE_IPV4,
    AWS_INSTANCE_PORT,
    HealthFilter,
    HealthStatus,
    Instance,
    InstanceNotFound,
    Registry,
    ServiceNotFound,
    to_endpoints,
)
from tests.integration.discovery.conftest import MakeRegistry
from tests.integration.discovery.support import eventually


def addr(port: int, **extra: str) -> dict[str, str]:
    return {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port), **extra}


def ids(instances: list[Instance]) -> set[str]:
    return {i.instance_id for i in instances}


# -- read side: every back end, static included ---------------------------


async def test_discover_returns_what_the_registry_holds(make_registry: MakeRegistry) -> None:
    reg = await make_registry({"catalog": [("c1", 50051), ("c2", 50061)]})
    found = await reg.discover("catalog")
    endpoints = to_endpoints(found, service="catalog")
    assert {e.address for e in endpoints} == {"127.0.0.1:50051", "127.0.0.1:50061"}


async def test_revision_is_stable_without_changes(make_registry: MakeRegistry) -> None:
    reg = await make_registry({"catalog": [("c1", 50051)]})
    assert await reg.revision("catalog") == await reg.revision("catalog")


async def test_max_results_bounds_the_answer(make_registry: MakeRegistry) -> None:
    reg = await make_registry({"catalog": [("c1", 50051), ("c2", 50061), ("c3", 50071)]})
    assert len(await reg.discover("catalog", max_results=2)) == 2


async def test_unknown_service_is_reported(make_registry: MakeRegistry) -> None:
    reg = await make_registry({"catalog": [("c1", 50051)]})
    with pytest.raises(ServiceNotFound):
        await reg.discover("nosuch")
    with pytest.raises(ServiceNotFound):
        await reg.revision("nosuch")


# -- write side: the back ends that can register ---------------------------


async def test_register_then_discover(registry: Registry) -> None:
    await registry.register("catalog", "c1", addr(50051, version="1.2.0", zone="a"))
    [instance] = await registry.discover("catalog")
    assert instance.instance_id == "c1"
    assert instance.attributes["version"] == "1.2.0"
    assert instance.health is HealthStatus.HEALTHY
    assert await registry.discover("inventory") == []


async def test_revision_moves_on_register_and_deregister(registry: Registry) -> None:
    before = await registry.revision("catalog")
    await registry.register("catalog", "c1", addr(50051))
    after_register = await registry.revision("catalog")
    assert after_register != before
    await registry.register("catalog", "c2", addr(50061))
    after_second = await registry.revision("catalog")
    assert after_second != after_register
    await registry.deregister("catalog", "c2")
    assert await registry.revision("catalog") != after_second


async def test_deregister_removes_and_is_idempotent(registry: Registry) -> None:
    await registry.register("catalog", "c1", addr(50051))
    await registry.register("catalog", "c2", addr(50061))
    await registry.deregister("catalog", "c1")
    assert ids(await registry.discover("catalog")) == {"c2"}
    await registry.deregister("catalog", "c1")  # already gone: no error
    await registry.deregister("catalog", "never-registered")


async def test_reregistering_an_id_updates_it(registry: Registry) -> None:
    await registry.register("catalog", "c1", addr(50051, version="1"), creator_request_id="r-1")
    await registry.register("catalog", "c1", addr(50061, version="2"), creator_request_id="r-2")
    [instance] = await registry.discover("catalog")
    assert instance.attributes["version"] == "2"
    assert instance.attributes[AWS_INSTANCE_PORT] == "50061"


async def test_query_parameters_must_all_match(registry: Registry) -> None:
    await registry.register("catalog", "a1", addr(50051, zone="a", version="1"))
    await registry.register("catalog", "a2", addr(50061, zone="a", version="2"))
    await registry.register("catalog", "b1", addr(50071, zone="b", version="1"))
    assert ids(await registry.discover("catalog", query={"zone": "a"})) == {"a1", "a2"}
    assert ids(await registry.discover("catalog", query={"zone": "a", "version": "1"})) == {"a1"}
    assert await registry.discover("catalog", query={"zone": "c"}) == []


async def test_health_filters(registry: Registry) -> None:
    await registry.register("catalog", "c1", addr(50051))
    await registry.register("catalog", "c2", addr(50061))
    revision = await registry.revision("catalog")
    await registry.set_health("catalog", "c2", False)

    def only_c1(found: list[Instance]) -> bool:
        return ids(found) == {"c1"}

    assert only_c1(await eventually(lambda: registry.discover("catalog"), only_c1))
    assert ids(await registry.discover("catalog", health=HealthFilter.HEALTHY)) == {"c1"}
    assert ids(await registry.discover("catalog", health=HealthFilter.UNHEALTHY)) == {"c2"}
    assert ids(await registry.discover("catalog", health=HealthFilter.ALL)) == {"c1", "c2"}
    # Health is not membership: Cloud Map's revision does not move on it.
    assert await registry.revision("catalog") == revision

    await registry.set_health("catalog", "c2", True)
    both = await eventually(lambda: registry.discover("catalog"), lambda f: len(f) == 2)
    assert ids(both) == {"c1", "c2"}


async def test_healthy_or_else_all_fails_open(registry: Registry) -> None:
    await registry.register("catalog", "c1", addr(50051))
    await registry.register("catalog", "c2", addr(50061))
    await registry.set_health("catalog", "c1", False)
    await registry.set_health("catalog", "c2", False)
    await eventually(
        lambda: registry.discover("catalog", health=HealthFilter.HEALTHY), lambda f: not f
    )
    assert ids(await registry.discover("catalog")) == {"c1", "c2"}


async def test_set_health_of_unknown_instance(registry: Registry) -> None:
    with pytest.raises(InstanceNotFound):
        await registry.set_health("catalog", "nobody", True)


async def test_unknown_service_on_write(registry: Registry) -> None:
    with pytest.raises(ServiceNotFound):
        await registry.register("nosuch", "x1", addr(50051))


async def test_bad_data_is_stored_but_skipped_by_callers(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await registry.register("catalog", "good", addr(50051))
    await registry.register("catalog", "noport", {AWS_INSTANCE_IPV4: "127.0.0.1"})
    await registry.register(
        "catalog", "badip", {AWS_INSTANCE_IPV4: "300.1.1.1", AWS_INSTANCE_PORT: "1"}
    )
    await registry.register("catalog", "range", addr(70000))
    found = await registry.discover("catalog")
    assert ids(found) == {"good", "noport", "badip", "range"}
    with caplog.at_level(logging.WARNING, logger="mesh.discovery"):
        endpoints = to_endpoints(found, service="catalog")
    assert [e.instance_id for e in endpoints] == ["good"]
    skipped = {r.__dict__.get("instance_id") for r in caplog.records}
    assert skipped == {"noport", "badip", "range"}
