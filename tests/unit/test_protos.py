"""The contracts: buf lint, and an HTTP rule on every RPC."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2

from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2
from shop.orders.v1 import orders_pb2

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


@pytest.mark.parametrize("module", [catalog_pb2, inventory_pb2, orders_pb2])
def test_every_rpc_has_an_http_rule(module: object) -> None:
    for service in module.DESCRIPTOR.services_by_name.values():  # type: ignore[attr-defined]
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            assert rule.WhichOneof("pattern"), f"{method.full_name} has no google.api.http rule"
