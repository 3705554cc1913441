"""The local stand-in for Step Functions and Lambda, run by scripts/run beside the mesh.

``workflows/local/server.mjs`` runs ``workflows/order_fulfilment.asl.json`` under
the npm interpreter ``aws-local-stepfunctions`` (installed into ``.tools/`` by
scripts/lib/bootstrap.sh), invokes the Lambda handlers of ``functions/`` in one
Python worker, and answers the Step Functions API on a free loopback port. It
writes its URL to ``<data dir>/workflow.url``, where orders
(``MESH_WORKFLOW=local``) finds it. The runner owns this process: it is not a
service of services.yaml (nothing of it is deployed; on AWS it is the state
machine and the Lambda functions).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mesh.config import WORKFLOW_URL_FILE

__all__ = ["ROOT", "LocalWorkflow", "WorkflowUnavailable", "start_local_workflow"]

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "workflows" / "order_fulfilment.asl.json"
SERVER = ROOT / "workflows" / "local" / "server.mjs"
INTERPRETER = ROOT / ".tools" / "node_modules" / "aws-local-stepfunctions"


class WorkflowUnavailable(RuntimeError):
    """The local workflow cannot run here; the message says what is missing."""


@dataclass
class LocalWorkflow:
    process: asyncio.subprocess.Process
    url: str
    url_file: Path
    log: IO[bytes]

    async def stop(self, grace: float = 5.0) -> int:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()
        self.url_file.unlink(missing_ok=True)
        return self.process.returncode or 0


async def start_local_workflow(
    data_dir: Path,
    env: Mapping[str, str],
    *,
    timeout: float = 30.0,
    retry_interval_ms: int | None = None,
    keep_finished: int | None = None,
    log_name: str = "workflow.log",
) -> LocalWorkflow:
    """Start the interpreter and its function worker; returns once its URL is written.

    ``env`` is the function worker's environment (registry, TLS, faults) on top of
    this process's.
    """
    node = shutil.which("node")
    if node is None:
        raise WorkflowUnavailable("the local workflow needs Node.js (node) on the PATH")
    if not INTERPRETER.is_dir():
        raise WorkflowUnavailable(
            "the local workflow's interpreter is not installed "
            "(scripts/run and scripts/test install it into .tools/)"
        )
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    url_file = data_dir / WORKFLOW_URL_FILE
    url_file.unlink(missing_ok=True)
    log = (logs / log_name).open("ab")
    args = [
        str(SERVER),
        "--definition",
        str(DEFINITION),
        "--url-file",
        str(url_file),
        "--python",
        sys.executable,
    ]
    if retry_interval_ms is not None:
        args += ["--retry-interval-ms", str(retry_interval_ms)]
    if keep_finished is not None:
        args += ["--keep-finished", str(keep_finished)]
    child_env = {
        **os.environ,
        "MESH_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        # The worker imports functions/ and mesh/ from the repository.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        node,
        *args,
        cwd=str(ROOT),
        env=child_env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not url_file.is_file():
        if process.returncode is not None or loop.time() > deadline:
            running = LocalWorkflow(process, "", url_file, log)
            await running.stop()
            tail = (logs / log_name).read_text(errors="replace")[-2000:]
            raise WorkflowUnavailable(f"the local workflow did not start:\n{tail}")
        await asyncio.sleep(0.05)
    url = url_file.read_text(encoding="utf-8").strip()
    return LocalWorkflow(process, url, url_file, log)
