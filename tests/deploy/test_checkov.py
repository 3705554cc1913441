"""checkov on deploy/terraform: no failed check, and a reason for every skip.

checkov runs once per session from its own virtualenv (scripts/lib/bootstrap.sh,
bootstrap_checkov). Locally a missing checkov skips these tests; with CI=true
it fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.terraform import ROOT, TERRAFORM, tf_files

_INLINE_SKIP = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9]+_\d+)(?::(.*))?")


def _checkov() -> Path | None:
    explicit = os.environ.get("CHECKOV")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(ROOT / ".tools" / "checkov-venv" / "bin" / "checkov")
    on_path = shutil.which("checkov")
    if on_path:
        candidates.append(Path(on_path))
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    executable = _checkov()
    if executable is None:
        message = "checkov not installed (scripts/test installs it into .tools/checkov-venv)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    run = subprocess.run(
        [
            str(executable),
            "--directory",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode in (0, 1), f"checkov crashed ({run.returncode}): {run.stderr[-2000:]}"
    report = json.loads(run.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    (terraform,) = [r for r in reports if r.get("check_type") == "terraform"]
    return terraform


def test_checkov_scanned_the_configuration(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 50, "checkov saw too few resources: did modules load?"
    assert summary["passed"] >= 100


def test_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)


def test_every_skip_is_inline_with_a_reason(checkov_report: dict[str, Any]) -> None:
    inline: dict[str, list[str]] = {}
    for path in tf_files():
        for match in _INLINE_SKIP.finditer(path.read_text(encoding="utf-8")):
            reason = (match.group(2) or "").strip()
            assert len(reason) >= 20, f"{path.name}: skip of {match.group(1)} needs a reason"
            inline.setdefault(match.group(1), []).append(reason)
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "expected the documented skips to show up in the report"
    for check in skipped:
        assert check["check_id"] in inline, f"{check['check_id']} skipped without an inline comment"
        assert check["check_result"].get("suppress_comment"), f"{check['check_id']}: no reason"
