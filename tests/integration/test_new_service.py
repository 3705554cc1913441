"""scripts/new-service on a throwaway copy of the repository: the service it writes
passes its own tests, buf lint, the contract and Terraform checks, ruff and mypy,
and is routed by the gateway; bad requests write nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mesh.runner import free_offset
from mesh.scaffold import ScaffoldError, plan
from mesh.topology import load_topology
from tests.support.waiting import until_line

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
# What the scaffold and the checks read; not .git, .venv, gen, .data or node_modules.
NEEDED = (
    "protos",
    "services",
    "mesh",
    "gateway",
    "functions",
    "workflows",
    "scripts",
    "tests",
    "deploy",
    "docs",
    "services.yaml",
    "buf.yaml",
    "pyproject.toml",
    ".tools/googleapis",
)


def copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache")
    for name in NEEDED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    # The copy's own checks need buf (required when CI=true): share the installed one.
    tools = ROOT / ".tools" / "node_modules"
    if tools.exists():
        (dest / ".tools").mkdir(exist_ok=True)
        (dest / ".tools" / "node_modules").symlink_to(tools, target_is_directory=True)
    return dest


def run(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A command in the copy with the shared venv, importing the copy's code and stubs."""
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'gen'}"}
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "gen" not in p.relative_to(root).parts[:1]
    }


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_scaffolded_service_works_everywhere_at_once(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    python = sys.executable
    made = run(
        root,
        python,
        "-m",
        "mesh.scaffold",
        "shelves",
        "--store",
        "redis",
        "--depends-on",
        "catalog",
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # The next port after the mesh's highest (the gateway's 8080 is another range).
    taken = [s.port for s in load_topology(ROOT / "services.yaml").services.values()]
    assert f"port {max(p for p in taken if p > 50000) + 1}" in made.stdout, made.stdout
    sql = run(root, python, "-m", "mesh.scaffold", "notes", "--store", "sql")
    assert sql.returncode == 0, sql.stdout + sql.stderr

    checks = run(
        root,
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/integration/services/test_shelves.py",
        "tests/integration/services/test_notes.py",
        "tests/unit/test_protos.py",
        "tests/unit/test_topology.py",
        "tests/deploy/test_terraform_consistency.py",
        "tests/deploy/test_terraform_auth.py",
        "tests/unit/gateway/test_gateway_shop_contracts.py",
    )
    assert checks.returncode == 0, checks.stdout[-4000:] + checks.stderr[-2000:]

    new = [
        "services/shelves",
        "services/notes",
        "tests/integration/services/test_shelves.py",
        "tests/integration/services/test_notes.py",
    ]
    lint = run(root, python, "-m", "ruff", "check", *new)
    assert lint.returncode == 0, lint.stdout
    types = run(root, python, "-m", "mypy", *new)
    assert types.returncode == 0, types.stdout
    if BUF.exists():
        buf = run(root, str(BUF), "lint")
        assert buf.returncode == 0, buf.stdout + buf.stderr

    # The gateway routes it and documents it (the gateway's own route and OpenAPI code).
    routed = run(
        root,
        python,
        "-c",
        (
            "from gateway.openapi import build_openapi\n"
            "from gateway.rules import bindings_for, import_generated, resolve_services\n"
            "from mesh.topology import load_topology\n"
            "import_generated('shop')\n"
            "t = load_topology()\n"
            "d = resolve_services({s.name: s.grpc_service for s in t.services.values() if s.grpc_service})\n"
            "print(sorted(build_openapi(bindings_for(d), d)['paths']))"
        ),
    )
    assert "'/v1/shelves'" in routed.stdout and "'/v1/notes/{name}'" in routed.stdout, (
        routed.stdout + routed.stderr
    )

    # scripts/run starts them from services.yaml alone (the runner the script execs).
    _the_runner_starts(root, ("shelves", "notes"), tmp_path / "data")


def _the_runner_starts(root: Path, names: tuple[str, ...], data: Path) -> None:
    offset = free_offset(load_topology(root / "services.yaml"))  # the copy's ports, checked
    console = data.parent / "run.out"
    only = [arg for name in names for arg in ("--only", name)]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'gen'}"}
    with console.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mesh.runner",
                *only,
                "--data-dir",
                str(data),
                "--port-offset",
                str(offset),
            ],
            cwd=root,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        text = until_line(console, "Press Ctrl-C", process=process, timeout=90)
        for name in names:
            assert f"ready   {name}-0" in text, text
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, console.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("Carts", {}, "lower-case letters"),
        ("my-svc", {}, "lower-case letters"),
        ("x", {}, "lower-case letters"),
        ("class", {}, "reserved"),
        ("gateway", {}, "reserved"),
        ("catalog", {}, "already exists"),
        ("widgets", {"port": 50051}, "taken by 'catalog'"),
        ("widgets", {"port": 80}, "1024..65535"),
        ("widgets", {"store": "mongo"}, "--store 'mongo'"),
        ("widgets", {"depends_on": ("ghost",)}, "'ghost'"),
        ("widgets", {"depends_on": ("gateway",)}, "'gateway'"),
        ("widgets", {"resource": "product"}, "/v1/products is already routed"),
        ("widgets", {"replicas": 0}, "--replicas"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(
    name: str, options: dict[str, object], message: str
) -> None:
    before = snapshot(ROOT / "services") | {"yaml": (ROOT / "services.yaml").read_bytes()}
    with pytest.raises(ScaffoldError, match=message):
        plan(ROOT, name, **options)  # type: ignore[arg-type]
    after = snapshot(ROOT / "services") | {"yaml": (ROOT / "services.yaml").read_bytes()}
    assert after == before


def test_a_failing_step_leaves_nothing_behind(tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    before = snapshot(root)
    # A codegen that fails: the rollback must remove every file and restore services.yaml.
    (root / "scripts" / "codegen.py").write_text("raise SystemExit(3)\n")
    before["scripts/codegen.py"] = (root / "scripts" / "codegen.py").read_bytes()
    made = run(root, sys.executable, "-m", "mesh.scaffold", "widgets")
    assert made.returncode == 2 and "codegen.py failed" in made.stderr
    assert snapshot(root) == before
