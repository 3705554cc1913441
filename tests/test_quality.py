"""The code stays typed and linted: ruff and mypy --strict on everything we wrote.

Generated stubs (gen/) are excluded in pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ["mesh", "services", "gateway", "deploy", "functions", "benchmarks", "tests", "scripts"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", *OURS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = run("mypy", *OURS)
    assert result.returncode == 0, result.stdout + result.stderr
