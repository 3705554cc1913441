"""The contracts: buf lint, an access rule on every RPC, an HTTP rule on every public one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2

from mesh.access import check_services, rule_of
from mesh.protos import service_descriptor
from mesh.topology import load_topology
from shop.api.v1 import access_pb2
from shop.inventory.v1 import inventory_pb2

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"


def test_buf_lint_passes() -> None:
    if not BUF.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("buf is not installed (scripts/test installs it with npm)")
        pytest.skip("buf not installed; run scripts/test to install it")
    result = subprocess.run(
        [str(BUF), "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


RELEASED = ROOT / "protos" / "released.binpb"


def _buf() -> Path:
    if not BUF.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("buf is not installed (scripts/test installs it with npm)")
        pytest.skip("buf not installed; run scripts/test to install it")
    return BUF


def breaking(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_buf()), "breaking", "protos", "--against", str(RELEASED)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_do_not_break_the_released_ones() -> None:
    """A break must be intended: scripts/release-protos records it (and it is announced)."""
    result = breaking(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_removed_field_is_a_break(tmp_path: Path) -> None:
    import shutil

    _buf()
    for name in ("protos", ".tools/googleapis"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy2(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / "protos/shop/catalog/v1/catalog.proto"
    proto.write_text(proto.read_text().replace("  string display_name = 3;\n", ""))
    result = breaking(tmp_path)
    assert result.returncode != 0
    assert 'field "3" with name "display_name"' in result.stdout


# Every proto service of services.yaml, so a scaffolded service is covered with no edit here.
SERVICES = sorted(
    spec.grpc_service for spec in load_topology().services.values() if spec.grpc_service
)


@pytest.mark.parametrize("name", SERVICES)
def test_every_rpc_declares_its_access(name: str) -> None:
    services = [service_descriptor(name)]
    check_services(services)
    for service in services:
        for method in service.methods:
            assert method.GetOptions().HasExtension(access_pb2.access), (
                f"{method.full_name} does not say who may call it (shop.api.v1.access)"
            )


@pytest.mark.parametrize("name", SERVICES)
def test_public_rpcs_have_an_http_rule_and_internal_ones_none(name: str) -> None:
    for service in [service_descriptor(name)]:
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            if rule_of(method).public:
                assert rule.WhichOneof("pattern"), f"{method.full_name} has no google.api.http rule"
            else:
                assert rule.WhichOneof("pattern") is None, f"{method.full_name} is internal"


def test_reservations_are_internal() -> None:
    service = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"]
    for name in ("ReserveStock", "ReleaseReservation", "CommitReservation"):
        assert not rule_of(service.methods_by_name[name]).public
