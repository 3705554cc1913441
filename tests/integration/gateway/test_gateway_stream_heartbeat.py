"""An idle stream stays open with heartbeats, and a client that leaves ends the backend call.

Over a real uvicorn socket, as the front door sees it: a backend ``Watch``
that sends one message and then nothing (an order that does not change)
until it is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import grpc
import httpx
import pytest
import uvicorn

from gateway import LocalChannelProvider, Settings, SettingsError, create_app
from gateway.http import GatewayHttpProtocol
from gateway.streaming import HEARTBEAT_NDJSON, HEARTBEAT_SSE
from tests.gateway_support.echo import SERVICE
from tests.gateway_support.live import free_port
from tests.support.waiting import until_state

HEARTBEAT = 0.2


@dataclass
class Backend:
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    outcome: list[str] = field(default_factory=list)


@contextmanager
def idle_stream_gateway(
    modules: tuple[ModuleType, ModuleType], settings: Settings
) -> Iterator[tuple[str, Backend]]:
    pb2, pb2_grpc = modules
    backend = Backend()

    class IdleWatch(pb2_grpc.EchoServiceServicer):  # type: ignore[name-defined,misc]
        async def Watch(self, request: Any, context: Any) -> Any:
            backend.started.set()
            try:
                yield pb2.EchoResponse(request=request, index=0, rpc="Watch")
                await asyncio.Event().wait()  # nothing changes, ever
            except asyncio.CancelledError:
                backend.outcome.append("cancelled")
                raise
            finally:
                backend.ended.set()

    port = free_port()
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    async def run() -> None:
        server = grpc.aio.server()
        pb2_grpc.add_EchoServiceServicer_to_server(IdleWatch(), server)
        echo_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channels = LocalChannelProvider({"echo": echo_port})
        app = create_app(
            channels, services={"echo": SERVICE}, settings=settings, generated_package=None
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="asyncio",
            http=GatewayHttpProtocol,
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=int(settings.keep_alive_seconds),
        )
        web = uvicorn.Server(config)
        holder["server"] = web
        task = asyncio.create_task(web.serve())
        # uvicorn exposes a flag, not an event: poll it (or the task's early end).
        await until_state(lambda: web.started or task.done(), timeout=10, what="uvicorn")
        ready.set()
        await task
        await channels.close()
        await server.stop(None)

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10), "gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}", backend
    finally:
        holder["server"].should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(access_log=False, stream_heartbeat_seconds=HEARTBEAT)


@pytest.mark.parametrize(
    ("accept", "heartbeat"),
    [("application/json", HEARTBEAT_NDJSON), ("text/event-stream", HEARTBEAT_SSE)],
    ids=["ndjson", "sse"],
)
def test_heartbeats_keep_an_idle_stream_open_and_leaving_cancels_the_backend(
    echo_modules: tuple[ModuleType, ModuleType], settings: Settings, accept: str, heartbeat: bytes
) -> None:
    with (
        idle_stream_gateway(echo_modules, settings) as (url, backend),
        httpx.Client(base_url=url, timeout=5) as client,
    ):
        with client.stream("GET", "/v1/things/t:watch", headers={"accept": accept}) as r:
            assert r.status_code == 200
            chunks: list[bytes] = []
            started = time.monotonic()
            open_while_idle = False
            for chunk in r.iter_raw():
                chunks.append(chunk)
                if b"".join(chunks).count(heartbeat) >= 3:
                    # Observed before the break: leaving the loop closes the generator,
                    # and with it the connection, which ends the backend call.
                    open_while_idle = not backend.ended.is_set()
                    break
            elapsed = time.monotonic() - started
            body = b"".join(chunks)
            # The message first, then only heartbeats: nothing changed.
            first, _, rest = body.partition(b"\n\n" if accept == "text/event-stream" else b"\n")
            if accept == "text/event-stream":
                assert json.loads(first.removeprefix(b"data: "))["rpc"] == "Watch"
            else:
                assert json.loads(first)["result"]["rpc"] == "Watch"
            assert rest.replace(heartbeat, b"") == b"", rest
            # Heartbeats come every HEARTBEAT seconds, not in a burst.
            assert elapsed >= 2 * HEARTBEAT * 0.8
            assert open_while_idle, "the backend call must stay open while idle"
        # The client closed the connection: the backend call ends, cancelled.
        assert backend.ended.wait(5), "the backend stream outlived its client"
        assert backend.outcome == ["cancelled"]


def test_ndjson_heartbeat_is_an_empty_object_a_client_can_skip() -> None:
    assert json.loads(HEARTBEAT_NDJSON) == {}
    assert HEARTBEAT_SSE.startswith(b":") and HEARTBEAT_SSE.endswith(b"\n\n")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STREAM_HEARTBEAT_SECONDS", "0", "STREAM_HEARTBEAT_SECONDS"),
        ("STREAM_HEARTBEAT_SECONDS", "300", "idle timeout"),
        ("STREAM_HEARTBEAT_SECONDS", "nan", "STREAM_HEARTBEAT_SECONDS"),
        ("STREAM_HEARTBEAT_SECONDS", "soon", "STREAM_HEARTBEAT_SECONDS"),
        ("STREAM_TIMEOUT", "900", "STREAM_TIMEOUT"),
        ("STREAM_TIMEOUT", "10", "STREAM_TIMEOUT"),
        ("KEEP_ALIVE_SECONDS", "350", "KEEP_ALIVE_SECONDS"),
        ("KEEP_ALIVE_SECONDS", "0", "KEEP_ALIVE_SECONDS"),
    ],
)
def test_stream_settings_are_validated(variable: str, value: str, message: str) -> None:
    env = {"MESH_GATEWAY_AUTH": "none", f"MESH_GATEWAY_{variable}": value}
    if variable == "STREAM_TIMEOUT" and value == "10":
        env["MESH_GATEWAY_STREAM_HEARTBEAT_SECONDS"] = "20"
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_stream_defaults_fit_the_front_door() -> None:
    defaults = Settings.from_env({"MESH_GATEWAY_AUTH": "none"})
    assert defaults.stream_heartbeat_seconds == 15
    assert defaults.stream_heartbeat_seconds < 300  # REST API idle timeout (regional)
    assert defaults.stream_timeout == 840 < 900  # REST API streams at most 15 min
    assert defaults.keep_alive_seconds == 75 < 350  # NLB idle flow timeout
