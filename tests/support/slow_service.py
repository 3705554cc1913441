"""A tiny service on the mesh runtime whose one method sleeps: for shutdown tests.

    python -m tests.support.slow_service PORT_FILE

Binds port 0, writes the port to PORT_FILE, serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from mesh.logs import configure_logging
from mesh.server import MeshServer, ServiceUnit, run_service

SERVICE = "test.Slow"
METHOD = f"/{SERVICE}/Sleep"


async def sleep(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
    """Sleeps the number of milliseconds in the request, then echoes it."""
    await asyncio.sleep(int(request.decode() or "0") / 1000)
    return request


def add(server: aio.Server) -> None:
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Sleep": grpc.unary_unary_rpc_method_handler(sleep)}
    )
    server.add_generic_rpc_handlers((handler,))


def unit() -> ServiceUnit:
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
