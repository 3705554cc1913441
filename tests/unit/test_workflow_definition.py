"""workflows/order_fulfilment.asl.json: valid States Language, and the shape the issue asks for.

asl-validator (npm, installed into .tools/ by scripts/test) checks it against the
States Language; the rest checks what a validator cannot: every Task retries and
catches, names its function only by a ``${fn_<name>}`` placeholder that
services.yaml declares, and the compensation is reachable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions import errors
from mesh.topology import load_topology

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "workflows" / "order_fulfilment.asl.json"
VALIDATOR = ROOT / ".tools" / "node_modules" / ".bin" / "asl-validator"
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text())
    return loaded


def tasks() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition()["States"].items() if s["Type"] == "Task"}


def test_asl_validator_accepts_the_definition() -> None:
    if not VALIDATOR.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("asl-validator is not installed (scripts/test installs it)")
        pytest.skip("asl-validator is not installed (scripts/test installs it)")
    result = subprocess.run(
        [str(VALIDATOR), "--json-path", str(DEFINITION)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_asl_validator_catches_a_broken_definition(tmp_path: Path) -> None:
    """The check itself can fail: a Task pointing at a missing state is refused."""
    if not VALIDATOR.exists():
        pytest.skip("asl-validator is not installed (scripts/test installs it)")
    broken = definition()
    broken["States"]["CommitStock"]["Next"] = "Nowhere"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    result = subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


def test_every_task_is_a_lambda_with_retry_catch_and_a_timeout() -> None:
    for name, state in tasks().items():
        assert state["Resource"] in (
            "arn:aws:states:::lambda:invoke",
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
        ), name
        assert state["Retry"] and state["Catch"], name
        retry = state["Retry"][0]
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 2, name
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_the_payment_wait_uses_the_task_token_and_the_deadline_from_the_input() -> None:
    wait = definition()["States"][definition()["StartAt"]]
    assert wait["Resource"].endswith(".waitForTaskToken")
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["TimeoutSecondsPath"] == "$.payment_deadline_seconds"
    caught = {e: c["Next"] for c in wait["Catch"] for e in c["ErrorEquals"]}
    assert caught["States.Timeout"] == "ReturnStockExpired"
    assert caught["OrderCancelled"] == caught["OrderClosed"] == "ReturnStockCancelled"
    assert definition()["TimeoutSeconds"] > 0  # the execution as a whole is bounded


def test_functions_are_named_only_by_placeholders_services_yaml_declares() -> None:
    declared = set(load_topology().functions)
    text = DEFINITION.read_text()
    names = PLACEHOLDER.findall(text)
    assert names and all(n.startswith("fn_") for n in names), names
    used = {n.removeprefix("fn_") for n in names}
    assert used == declared
    for state in tasks().values():
        assert PLACEHOLDER.fullmatch(state["Parameters"]["FunctionName"])


def test_the_error_names_are_the_functions_own() -> None:
    raised = {"ServiceUnavailable", "OrderClosed"}
    assert raised <= {cls.__name__ for cls in errors.FunctionError.__subclasses__()}
    named = {
        error
        for state in tasks().values()
        for rule in [*state["Retry"], *state["Catch"]]
        for error in rule["ErrorEquals"]
    }
    # OrderCancelled is what orders sends with SendTaskFailure on a cancel.
    own = {"ServiceUnavailable", "OrderClosed", "OrderCancelled"}
    assert own <= named
    assert all(e in own or e.startswith(("States.", "Lambda.")) for e in named), named


def test_compensation_gives_the_stock_back_before_marking_the_order() -> None:
    states = definition()["States"]
    for start, mark, status in [
        ("ReturnStockExpired", "MarkExpired", "EXPIRED"),
        ("ReturnStockCancelled", "MarkCancelled", "CANCELLED"),
        ("ReturnStockFailed", "MarkFailed", "FAILED"),
    ]:
        assert states[start]["Parameters"]["FunctionName"] == "${fn_return_stock}"
        assert states[start]["Next"] == mark
        assert states[mark]["Parameters"]["Payload"]["status"] == status
    for name in ("CommitStock", "MarkPaid", "Fulfil"):
        assert states[name]["Catch"][0]["Next"] == "ReturnStockFailed"
