"""The ``Workflow`` port: how orders starts and answers the fulfilment workflow.

One adapter, :class:`StepFunctions`, speaks the Step Functions API through boto3:
to AWS (``MESH_WORKFLOW=stepfunctions``) or to the local interpreter that runs
the same definition (``MESH_WORKFLOW=local``, ``workflows/local/``), which
answers the same JSON protocol on loopback. :class:`NoWorkflow` is
``MESH_WORKFLOW=off``: orders confirm at once, as before the workflow.

Orders starts one execution per order, named after the order (so a retried
start finds the running one), answers the payment wait's task token on
payment (SendTaskSuccess) or cancel (SendTaskFailure ``OrderCancelled``), and
stops an execution whose token never arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from mesh.awsconfig import client_config
from mesh.config import parse_url
from mesh.errors import Unavailable

__all__ = ["LOCAL_STATE_MACHINE", "NoWorkflow", "StepFunctions", "Workflow"]

log = logging.getLogger("orders.workflow")
# The local interpreter's one state machine; any account and region will do there.
LOCAL_STATE_MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:order_fulfilment"
# The wait is over (answered, timed out, or its execution ended): nothing to answer.
_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist"}


@runtime_checkable
class Workflow(Protocol):
    enabled: bool

    async def start(self, name: str, payload: dict[str, Any]) -> str:
        """Starts (or finds, by ``name``) the execution; returns its id (ARN)."""
        ...

    async def succeed(self, token: str, output: dict[str, Any]) -> bool:
        """Answers a wait; False if the wait is over already."""
        ...

    async def fail(self, token: str, error: str, cause: str) -> bool:
        """Fails a wait with ``error`` (caught by the definition); False if it is over."""
        ...

    async def stop(self, execution: str, cause: str) -> None:
        """Stops an execution; stopping a finished one is a no-op."""
        ...


class NoWorkflow:
    """``MESH_WORKFLOW=off``: no executions; orders are confirmed at once."""

    enabled = False

    async def start(self, name: str, payload: dict[str, Any]) -> str:
        raise RuntimeError("no workflow (MESH_WORKFLOW=off)")

    async def succeed(self, token: str, output: dict[str, Any]) -> bool:
        return False

    async def fail(self, token: str, error: str, cause: str) -> bool:
        return False

    async def stop(self, execution: str, cause: str) -> None:
        return None


class StepFunctions:
    """The Step Functions API (AWS, or the local interpreter at ``endpoint_url``)."""

    enabled = True

    def __init__(
        self,
        state_machine_arn: str,
        *,
        endpoint_url: str | None = None,
        endpoint_file: Path | None = None,
        region: str | None = None,
        local: bool = False,
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self.endpoint_url = endpoint_url
        self.endpoint_file = endpoint_file
        self.region = region or "us-east-1"
        self.local = local
        self._clients: dict[str | None, Any] = {}

    def _endpoint(self) -> str | None:
        if self.endpoint_file is None:
            return self.endpoint_url
        # The local interpreter writes its URL when it starts (and again after a restart).
        try:
            return parse_url(self.endpoint_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            raise Unavailable(
                "the local workflow interpreter is not running (scripts/run starts it)",
                reason="WORKFLOW_UNAVAILABLE",
            ) from None

    def _client(self) -> Any:
        endpoint = self._endpoint()
        client = self._clients.get(endpoint)
        if client is None:
            extra: dict[str, Any] = {}
            if self.local:
                # The local interpreter checks no signature; boto3 still wants a key.
                extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
            client = self._clients[endpoint] = boto3.client(
                "stepfunctions",
                endpoint_url=endpoint,
                region_name=self.region,
                config=client_config(connect_timeout=2.0, read_timeout=5.0, max_attempts=3),
                **extra,
            )
        return client

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        method = getattr(self._client(), operation)
        try:
            return await asyncio.to_thread(method, **kwargs)
        except BotoCoreError as exc:
            raise Unavailable(
                "the workflow engine did not answer; retry",
                reason="WORKFLOW_UNAVAILABLE",
                metadata={"operation": operation},
            ) from exc

    async def start(self, name: str, payload: dict[str, Any]) -> str:
        try:
            reply = await self._call(
                "start_execution",
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps(payload, sort_keys=True),
            )
        except ClientError as exc:
            if _code(exc) != "ExecutionAlreadyExists":
                raise _unavailable(exc, "start_execution") from exc
            # Started before with other input (a retry after a deadline change): it is ours.
            return self._execution_arn(name)
        return str(reply["executionArn"])

    async def succeed(self, token: str, output: dict[str, Any]) -> bool:
        return await self._answer(
            "send_task_success", taskToken=token, output=json.dumps(output, sort_keys=True)
        )

    async def fail(self, token: str, error: str, cause: str) -> bool:
        return await self._answer("send_task_failure", taskToken=token, error=error, cause=cause)

    async def stop(self, execution: str, cause: str) -> None:
        try:
            await self._call("stop_execution", executionArn=execution, cause=cause)
        except ClientError as exc:
            if _code(exc) not in _GONE:
                raise _unavailable(exc, "stop_execution") from exc

    async def _answer(self, operation: str, **kwargs: Any) -> bool:
        try:
            await self._call(operation, **kwargs)
        except ClientError as exc:
            if _code(exc) in _GONE:
                return False
            raise _unavailable(exc, operation) from exc
        return True

    def _execution_arn(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(exc: ClientError, operation: str) -> Unavailable:
    log.warning("workflow call failed", extra={"operation": operation, "code": _code(exc)})
    return Unavailable(
        f"the workflow engine refused {operation} ({_code(exc)}); retry",
        reason="WORKFLOW_UNAVAILABLE",
        metadata={"operation": operation, "code": _code(exc)},
    )
