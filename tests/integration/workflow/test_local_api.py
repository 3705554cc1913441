"""The local Step Functions API (workflows/local/server.mjs) against bad and hostile calls.

orders speaks to it with boto3, as to AWS; so do these tests, and raw HTTP for
what boto3 would never send.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from mesh.localworkflow import (
    DEFINITION,
    INTERPRETER,
    SERVER,
    LocalWorkflow,
    start_local_workflow,
)
from services.orders.workflow import LOCAL_STATE_MACHINE, StepFunctions
from tests.integration.workflow.sfn import client

pytestmark = pytest.mark.skipif(
    not INTERPRETER.is_dir() and os.environ.get("CI") != "true",
    reason="the workflow interpreter is not installed (scripts/test installs it)",
)
TARGET = "AWSStepFunctions."


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalWorkflow]:
    # Nobody answers for orders or inventory: executions fail their steps, which
    # these tests do not need.
    env = {"MESH_REGISTRY": "static", "MESH_STATIC_ENDPOINTS": "orders=127.0.0.1:1"}
    workflow = await start_local_workflow(tmp_path, env, retry_interval_ms=10)
    try:
        yield workflow
    finally:
        assert await workflow.stop() == 0
    assert not (tmp_path / "workflow.url").exists()


def code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


async def test_bad_calls_get_the_errors_aws_gives(local: LocalWorkflow) -> None:
    sfn = client(local.url)
    start = sfn.start_execution
    assert code(start, stateMachineArn=LOCAL_STATE_MACHINE + "x", name="a") == (
        "StateMachineDoesNotExist"
    )
    assert code(start, stateMachineArn=LOCAL_STATE_MACHINE, name="a b/c") == "InvalidName"
    assert code(start, stateMachineArn=LOCAL_STATE_MACHINE, name="n" * 81) == "InvalidName"
    assert code(start, stateMachineArn=LOCAL_STATE_MACHINE, name="a", input="{") == (
        "InvalidExecutionInput"
    )
    missing = LOCAL_STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":nope"
    assert code(sfn.describe_execution, executionArn=missing) == "ExecutionDoesNotExist"
    assert code(sfn.stop_execution, executionArn=missing) == "ExecutionDoesNotExist"
    # A token nobody waits for is over, as AWS says of an answered or timed-out task.
    assert code(sfn.send_task_success, taskToken="forged", output="{}") == "TaskTimedOut"
    assert code(sfn.send_task_failure, taskToken="forged", error="E") == "TaskTimedOut"
    assert code(sfn.send_task_heartbeat, taskToken="t" * 8192) == "TaskTimedOut"


async def test_a_start_is_idempotent_by_name_and_input(local: LocalWorkflow) -> None:
    sfn = client(local.url)
    payload = json.dumps({"order": "orders/" + "b" * 32, "payment_deadline_seconds": 60})
    first = sfn.start_execution(stateMachineArn=LOCAL_STATE_MACHINE, name="twice", input=payload)
    again = sfn.start_execution(stateMachineArn=LOCAL_STATE_MACHINE, name="twice", input=payload)
    assert first["executionArn"] == again["executionArn"]
    other = code(sfn.start_execution, stateMachineArn=LOCAL_STATE_MACHINE, name="twice", input="{}")
    assert other == "ExecutionAlreadyExists"
    # orders' adapter takes that as the execution it started before.
    adapter = StepFunctions(LOCAL_STATE_MACHINE, endpoint_url=local.url, local=True)
    assert await adapter.start("twice", {}) == first["executionArn"]
    sfn.stop_execution(executionArn=first["executionArn"])
    assert sfn.describe_execution(executionArn=first["executionArn"])["status"] == "ABORTED"
    await adapter.stop(first["executionArn"], "again")  # stopping twice is a no-op
    assert await adapter.succeed("forged", {}) is False  # a wait that is over


async def test_only_the_newest_finished_executions_are_kept(tmp_path: Path) -> None:
    # A long local run must not hold every execution's history: past
    # --keep-finished the oldest finished ones go; running ones always stay.
    env = {"MESH_REGISTRY": "static", "MESH_STATIC_ENDPOINTS": "orders=127.0.0.1:1"}
    workflow = await start_local_workflow(tmp_path, env, retry_interval_ms=10, keep_finished=2)
    try:
        sfn = client(workflow.url)
        payload = json.dumps({"order": "orders/" + "c" * 32, "payment_deadline_seconds": 60})
        arns = [
            sfn.start_execution(stateMachineArn=LOCAL_STATE_MACHINE, name=f"n{i}", input=payload)[
                "executionArn"
            ]
            for i in range(5)
        ]
        for arn in arns[:4]:
            sfn.stop_execution(executionArn=arn)
        assert code(sfn.describe_execution, executionArn=arns[0]) == "ExecutionDoesNotExist"
        assert code(sfn.describe_execution, executionArn=arns[1]) == "ExecutionDoesNotExist"
        assert [sfn.describe_execution(executionArn=a)["status"] for a in arns[2:]] == [
            "ABORTED",
            "ABORTED",
            "RUNNING",
        ]
    finally:
        assert await workflow.stop() == 0


@pytest.mark.parametrize("keep", ["0", "-1", "1.5", "x", "1000001"])
def test_a_bad_keep_finished_is_refused(keep: str) -> None:
    node = shutil.which("node")
    assert node is not None, "the local workflow needs Node.js"
    done = subprocess.run(
        [node, str(SERVER), "--definition", str(DEFINITION), f"--keep-finished={keep}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "--keep-finished" in done.stderr, done


HOSTILE: list[tuple[dict[str, str], bytes, int, str]] = [
    ({"x-amz-target": TARGET + "DeleteStateMachine"}, b"{}", 400, "UnknownOperationException"),
    ({"x-amz-target": TARGET + "constructor"}, b"{}", 400, "UnknownOperationException"),
    ({"x-amz-target": TARGET + "__proto__"}, b"{}", 400, "UnknownOperationException"),
    ({}, b"{}", 400, "UnknownOperationException"),
    ({"x-amz-target": TARGET + "StartExecution"}, b"not json", 400, "SerializationException"),
    ({"x-amz-target": TARGET + "StartExecution"}, b"[1]", 400, "SerializationException"),
    ({"x-amz-target": TARGET + "StartExecution"}, b"null", 400, "SerializationException"),
    (
        {"x-amz-target": TARGET + "StartExecution"},
        b'{"stateMachineArn": 7}',
        400,
        "ValidationException",
    ),
    (
        {"x-amz-target": TARGET + "SendTaskSuccess"},
        b'{"taskToken": "' + b"t" * 9000 + b'", "output": "{}"}',
        400,
        "ValidationException",
    ),
    (
        {"x-amz-target": TARGET + "StartExecution"},
        b'{"input": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        413,
        "ValidationException",
    ),
]


async def test_hostile_requests_are_refused_and_the_server_lives_on(local: LocalWorkflow) -> None:
    for headers, body, status, error in HOSTILE:
        async with httpx.AsyncClient(base_url=local.url, timeout=10) as http:
            try:
                reply = await http.post("/", content=body, headers=headers)
            except httpx.HTTPError:
                # An oversized body may be cut off before its answer is read.
                assert status == 413
            else:
                assert reply.status_code == status, reply.text
                assert reply.json()["__type"] == error
        async with httpx.AsyncClient(base_url=local.url, timeout=10) as fresh:
            assert (await fresh.post("/", content=b"{}")).status_code == 400


async def test_only_loopback(local: LocalWorkflow) -> None:
    assert local.url.startswith("http://127.0.0.1:")
