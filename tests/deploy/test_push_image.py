"""scripts/push-image runs on the documented path: after ``terraform init`` and ``plan``.

Docker and the AWS CLI are stand-ins on PATH that record how they were called;
the script runs for real in a throw-away git repository holding it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.terraform import ROOT

REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-dev"
LOCK = Path("deploy/terraform/envs/dev/.terraform.lock.hcl")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "push-image", repo / "scripts" / "push-image")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copy2(ROOT / ".gitignore", repo / ".gitignore")
    (repo / LOCK.parent).mkdir(parents=True)
    (repo / LOCK.parent / "main.tf").write_text("# placeholder\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "initial")
    return repo


@pytest.fixture
def fake_tools(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("aws", "docker"):
        script = bin_dir / tool
        script.write_text(
            f'#!/usr/bin/env bash\necho "{tool} $*" >> "{calls}"\n'
            f'[ "{tool}" = aws ] && echo password\n'
            '[ "$1" = login ] && cat > /dev/null\n'  # reads the password like docker does
            "exit 0\n",
            encoding="utf-8",
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env, calls


def _push(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "scripts" / "push-image"), "eu-west-1", REPOSITORY],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def test_push_image_runs_after_terraform_init_and_plan(
    repo: Path, fake_tools: tuple[dict[str, str], Path]
) -> None:
    env, calls = fake_tools
    # What `terraform init` and `terraform plan -out=tfplan` leave in the tree.
    (repo / LOCK).write_text('provider "registry.terraform.io/hashicorp/aws" {}\n', "utf-8")
    (repo / LOCK.parent / "tfplan").write_bytes(b"PK\x03\x04")
    (repo / LOCK.parent / ".terraform").mkdir()
    (repo / LOCK.parent / "terraform.tfvars").write_text('aws_region = "eu-west-1"\n', "utf-8")
    run = _push(repo, env)
    assert run.returncode == 0, run.stderr
    head = _git(repo, "rev-parse", "--short=12", "HEAD").strip()
    tag = run.stdout.strip().splitlines()[-1]
    assert tag.endswith(f"-{head}")
    log = calls.read_text(encoding="utf-8")
    assert f"docker push {REPOSITORY}:{tag}" in log
    assert "aws ecr get-login-password --region eu-west-1" in log


def test_a_committed_lock_file_that_init_changed_does_not_block_either(
    repo: Path, fake_tools: tuple[dict[str, str], Path]
) -> None:
    env, _ = fake_tools
    (repo / LOCK).write_text("# v1\n", encoding="utf-8")
    _git(repo, "add", str(LOCK))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "lock")
    (repo / LOCK).write_text("# v1, more hashes\n", encoding="utf-8")
    assert _push(repo, env).returncode == 0


@pytest.mark.parametrize(
    "path", ["mesh/new_module.py", "services.yaml", "deploy/terraform/envs/dev/main.tf"]
)
def test_other_changes_still_block_an_untagged_push(
    repo: Path, fake_tools: tuple[dict[str, str], Path], path: str
) -> None:
    env, calls = fake_tools
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("changed\n", encoding="utf-8")
    run = _push(repo, env)
    assert run.returncode == 2
    assert "uncommitted changes" in run.stderr
    assert path in run.stderr
    assert not calls.exists(), "nothing may be built or pushed from a dirty tree"


def test_plan_files_are_gitignored() -> None:
    for name in ("tfplan", "deploy/terraform/envs/dev/tfplan", "x.tfplan", str(LOCK)):
        ignored = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", name], check=False
        )
        expected = 1 if name == str(LOCK) else 0  # the lock file is meant to be committed
        assert ignored.returncode == expected, name
