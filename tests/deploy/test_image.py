"""The Dockerfile, .dockerignore and scripts/push-image agree with the code.

There is no Docker engine where these tests run, so they read the files: the
entry points the image and the task definitions name must exist in the tree.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from mesh.topology import load_topology
from tests.deploy.terraform import MODULES, ROOT, expr, load_module

DOCKERFILE = ROOT / "Dockerfile"
PUSH_IMAGE = ROOT / "scripts" / "push-image"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def _entry_modules() -> set[str]:
    """Every module the image is asked to run: services.yaml, the probe, the default CMD."""
    modules = {spec.module for spec in load_topology(ROOT / "services.yaml").services.values()}
    probe = expr(load_module(MODULES / "ecs_service").locals["probe"])
    modules.update(re.findall(r'"-m", "([\w.]+)"', probe))
    cmd = next(arg for op, arg in reversed(_instructions()) if op == "CMD")
    modules.update(re.findall(r'"-m",\s*"([\w.]+)"', cmd))
    return modules


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("module", sorted(_entry_modules()))
def test_entry_point_exists(module: str) -> None:
    assert _module_file(module), f"python -m {module}: neither {module}.py nor {module}/__main__.py"


def test_the_wheel_ships_every_entry_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        Path(p).name for p in config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    }
    missing = {m.split(".")[0] for m in _entry_modules()} - packages
    assert not missing, f"pyproject's wheel packages lack {sorted(missing)}: the image would too"


def test_dockerfile_builds_in_stages_on_slim_python() -> None:
    instructions = _instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: build and runtime"
    default_base = next(
        arg for op, arg in instructions if op == "ARG" and arg.startswith("PYTHON_IMAGE=")
    )
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[1-9]-slim(-\w+)?", default_base)
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)


def test_stubs_are_generated_at_build_with_the_codegen_extra() -> None:
    runs = " ".join(arg for op, arg in _instructions() if op == "RUN")
    assert '".[codegen]"' in runs
    assert "scripts/codegen.py" in runs
    assert runs.index(".[codegen]") < runs.index("scripts/codegen.py")


def test_runtime_user_is_not_root_and_matches_the_task_definition() -> None:
    instructions = _instructions()
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    users = [arg for op, arg in final_stage if op == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1] not in ("root", "0", "0:0")
    (task,) = load_module(MODULES / "ecs_service").resources_of("aws_ecs_task_definition").values()
    assert f'user = "{users[-1]}"' in expr(task["container_definitions"])


def test_image_carries_services_yaml() -> None:
    instructions = _instructions()
    env = " ".join(arg for op, arg in instructions if op == "ENV")
    assert "MESH_SERVICES_FILE=/app/services.yaml" in env
    assert ("COPY", "services.yaml ./services.yaml") in instructions
    assert ("WORKDIR", "/app") in instructions


def test_every_copied_path_exists_and_passes_dockerignore() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for op, arg in _instructions():
        if op != "COPY" or arg.startswith("--from"):
            continue
        for source in arg.split()[:-1]:
            assert any(source == a or source.startswith(a + "/") for a in allowed), (
                f"COPY {source}: excluded by .dockerignore"
            )
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_push_image_is_strict_bash_without_account_ids() -> None:
    text = PUSH_IMAGE.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert not re.search(r"(?<![\d{])\d{12}(?![\d}])", text), "no account id may be hard-coded"
    assert PUSH_IMAGE.stat().st_mode & 0o111, "scripts/push-image must be executable"
    subprocess.run(["bash", "-n", str(PUSH_IMAGE)], check=True)


def test_push_image_rejects_bad_arguments() -> None:
    run = subprocess.run(
        ["bash", str(PUSH_IMAGE), "eu-west-1", "not-a-repository-url", "v1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert run.returncode == 2
    assert "not an ECR repository URL" in run.stderr
