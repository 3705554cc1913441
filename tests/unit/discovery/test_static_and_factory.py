"""The static back end's format, and create_registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.discovery import (
    CloudMapRegistry,
    LocalRegistry,
    MemoryRegistry,
    StaticRegistry,
    StaticSpecError,
    create_registry,
    default_path,
    parse_static_spec,
    to_endpoints,
)


def test_spec_format() -> None:
    spec = " catalog = 127.0.0.1:50051 , 127.0.0.1:50061 ; inventory=127.0.0.1:50052;"
    services = parse_static_spec(spec)
    assert sorted(services) == ["catalog", "inventory"]
    assert [e.address for e in to_endpoints(services["catalog"])] == [
        "127.0.0.1:50051",
        "127.0.0.1:50061",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("catalog", "not name=address"),
        ("=127.0.0.1:1", "not name=address"),
        ("catalog=", "no address"),
        ("catalog=localhost:50051", "not an IPv4"),
        ("catalog=127.0.0.1", "not IPv4:port"),
        ("catalog=127.0.0.1:0", "not in 1..65535"),
        ("catalog=127.0.0.1:x", "not in 1..65535"),
        ("catalog=127.0.0.1:1;catalog=127.0.0.1:2", "appears twice"),
    ],
)
def test_bad_specs_fail_loudly(spec: str, message: str) -> None:
    with pytest.raises(StaticSpecError, match=message):
        parse_static_spec(spec)


async def test_static_is_read_only_and_writes_are_no_ops() -> None:
    registry = StaticRegistry("catalog=127.0.0.1:50051")
    revision = await registry.revision("catalog")
    await registry.register("catalog", "x", {"AWS_INSTANCE_IPV4": "127.0.0.1"})
    await registry.set_health("catalog", "127.0.0.1:50051", False)
    await registry.deregister("catalog", "127.0.0.1:50051")
    assert [i.instance_id for i in await registry.discover("catalog")] == ["127.0.0.1:50051"]
    assert await registry.revision("catalog") == revision


def test_factory_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = create_registry("local", path=tmp_path / "r.json")
    assert isinstance(local, LocalRegistry)
    assert local.path == tmp_path / "r.json"
    assert isinstance(create_registry("static", static_spec="a=127.0.0.1:1"), StaticRegistry)
    assert isinstance(create_registry("memory"), MemoryRegistry)
    cloudmap = create_registry("cloudmap", namespace="shop.local", region="us-east-1")
    assert isinstance(cloudmap, CloudMapRegistry)
    with pytest.raises(ValueError, match="MESH_CLOUDMAP_NAMESPACE"):
        create_registry("cloudmap")
    with pytest.raises(ValueError, match="MESH_STATIC_ENDPOINTS"):
        create_registry("static")
    with pytest.raises(ValueError, match="unknown registry kind 'consul'"):
        create_registry("consul")


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MESH_DATA_DIR", raising=False)
    assert default_path() == Path(".data") / "registry.json"
    monkeypatch.setenv("MESH_DATA_DIR", str(tmp_path))
    assert default_path() == tmp_path / "registry.json"
    assert create_registry().path == tmp_path / "registry.json"  # type: ignore[attr-defined]
