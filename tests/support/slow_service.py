"""A tiny service on the mesh runtime whose one method takes its time: for shutdown tests.

    python -m tests.support.slow_service PORT_FILE [GRACE]

Binds port 0, writes the port to PORT_FILE, serves until SIGTERM. Each call
logs ``call arrived`` as it starts (the signal a test in another process waits
for); in-process, a :class:`Gate` reports the arrival and holds the call until
the test releases it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from mesh.logs import configure_logging
from mesh.server import MeshServer, ServiceUnit, run_service

SERVICE = "test.Slow"
METHOD = f"/{SERVICE}/Sleep"
ARRIVED = "call arrived"

log = logging.getLogger("tests.slow")


@dataclass
class Gate:
    """``arrived`` is set when a call starts; the call then waits for ``release``."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def unit(gate: Gate | None = None) -> ServiceUnit:
    """The service; with a ``gate`` its calls are held until released, not slept."""

    async def sleep(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
        """Sleeps the number of milliseconds in the request (or waits for the gate), echoes it."""
        log.info(ARRIVED)
        if gate is not None:
            gate.arrived.set()
            await gate.release.wait()
        else:
            # The deliberately slow backend under test: the call is still running when
            # the test (signalled by the log line above) stops the server.
            await asyncio.sleep(int(request.decode() or "0") / 1000)
        return request

    def add(server: aio.Server) -> None:
        handler = grpc.method_handlers_generic_handler(
            SERVICE, {"Sleep": grpc.unary_unary_rpc_method_handler(sleep)}
        )
        server.add_generic_rpc_handlers((handler,))

    return ServiceUnit("slow", [SERVICE], add)


class _PortFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def start(self, server: MeshServer) -> None:
        self.path.write_text(str(server.port))

    async def stop(self) -> None:
        return None


def main() -> int:
    configure_logging("slow")
    base = unit()
    base.lifecycles = [_PortFile(Path(sys.argv[1]))]
    server = MeshServer(base, shutdown_grace=float(sys.argv[2]) if len(sys.argv) > 2 else 5.0)
    return asyncio.run(run_service(server))


if __name__ == "__main__":
    sys.exit(main())
