"""The gateway and the echo backend served for real on loopback, in a background thread.

Used where a synchronous client drives the gateway over TCP: the uvicorn
tests and schemathesis.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import uvicorn

from gateway import Gateway, LocalChannelProvider, Settings, create_app
from gateway.http import GatewayHttpProtocol
from tests.gateway_support.echo import SERVICE, start_echo_server
from tests.support.waiting import until_state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveGateway:
    url: str
    app: Gateway
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def serve_gateway(
    modules: tuple[ModuleType, ModuleType], *, grace_seconds: float = 10.0
) -> Iterator[LiveGateway]:
    """The gateway under uvicorn and its echo backend; stopped (if still running) on exit."""
    port = free_port()
    ready = threading.Event()
    parts: dict[str, object] = {}

    async def run() -> None:
        echo, echo_port = await start_echo_server(*modules)
        channels = LocalChannelProvider({"echo": echo_port})
        app = create_app(
            channels,
            services={"echo": SERVICE},
            settings=Settings(access_log=False),
            generated_package=None,
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="asyncio",
            http=GatewayHttpProtocol,  # as in production (gateway.__main__)
            proxy_headers=False,
            server_header=False,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=int(grace_seconds),
        )
        server = uvicorn.Server(config)
        parts.update(server=server, app=app)
        task = asyncio.create_task(server.serve())
        # uvicorn exposes a flag, not an event: poll it (or the task's early end).
        await until_state(lambda: server.started or task.done(), timeout=10, what="uvicorn")
        ready.set()
        await task
        await channels.close()
        await echo.stop(None)

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("gateway did not start")
    server, app = parts["server"], parts["app"]
    assert isinstance(server, uvicorn.Server)
    assert isinstance(app, Gateway)
    try:
        yield LiveGateway(f"http://127.0.0.1:{port}", app, server, thread)
    finally:
        server.should_exit = True
        thread.join(grace_seconds + 5)


@contextmanager
def live_gateway(modules: tuple[ModuleType, ModuleType]) -> Iterator[str]:
    """Yields the gateway's base URL; stops both servers on exit."""
    with serve_gateway(modules) as live:
        yield live.url
