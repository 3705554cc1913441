"""The storefront's toolchain: types generated from the gateway's OpenAPI, tsc, biome, and a size budget.

The npm packages come from scripts/test (bootstrap_web); without them these
tests skip locally and fail when CI=true, like buf's.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
BIN = WEB / "node_modules" / ".bin"
# The shipped JavaScript, gzipped, all chunks together: what a first visit downloads.
JS_BUDGET_GZIP = 60 * 1024


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"web/node_modules/.bin/{name} is missing (scripts/test installs it)")
        pytest.skip(f"{name} not installed; run scripts/test to install the storefront's packages")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MESH_VENV": str(Path(sys.executable).parents[1])}
    return subprocess.run(
        [str(a) for a in args], cwd=WEB, capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def generated() -> Path:
    """src/api/schema.d.ts, generated now from the gateway's document (no mesh running)."""
    _tool("openapi-typescript")
    result = _run("node", "scripts/gen-api.mjs")
    assert result.returncode == 0, result.stdout + result.stderr
    return WEB / "src" / "api" / "schema.d.ts"


def test_api_types_come_from_the_gateways_document(generated: Path) -> None:
    text = generated.read_text(encoding="utf-8")
    for path in ('"/v1/products"', '"/v1/cart:checkout"', '"/v1/orders/{name}:watch"'):
        assert path in text
    assert '"shop.orders.v1.Order"' in text
    # Nothing about the API is typed by hand: no source file spells a route or a schema
    # except through the generated types.
    for source in (WEB / "src").rglob("*.ts*"):
        if source.name == "schema.d.ts":
            continue
        code = source.read_text(encoding="utf-8")
        assert not re.search(r"\binterface\s+(Product|Order|Cart|Stock|Money)\b", code), source
        assert "fetch(`/v1" not in code and 'fetch("/v1' not in code, source


def test_typescript_type_checks(generated: Path) -> None:
    result = _run(_tool("tsc"), "--noEmit")
    assert result.returncode == 0, result.stdout + result.stderr


def test_biome_lints_and_formats_clean() -> None:
    result = _run(_tool("biome"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_fits_its_budget_and_its_csp(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    result = _run(_tool("vite"), "build", "--outDir", out, "--emptyOutDir", "--logLevel", "warn")
    assert result.returncode == 0, result.stdout + result.stderr
    scripts = sorted((out / "assets").glob("*.js"))
    assert scripts, "no JavaScript built"
    size = sum(len(gzip.compress(s.read_bytes(), 9)) for s in scripts)
    assert size <= JS_BUDGET_GZIP, f"{size} bytes of gzipped JavaScript, over {JS_BUDGET_GZIP}"
    for asset in (out / "assets").iterdir():
        # Hashed names: the gateway and CloudFront cache them for a year.
        assert re.fullmatch(r"[\w.-]+-[\w-]{8}\.(js|css)", asset.name), asset.name
    index = (out / "index.html").read_text(encoding="utf-8")
    # The CSP allows scripts and styles from the origin only: nothing inline.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", index), index
    assert "<style" not in index and "style=" not in index
