"""Graceful shutdown under the real uvicorn server: in-flight requests finish."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import httpx
import pytest

from gateway import Gateway
from tests.gateway_support.live import serve_gateway
from tests.support.waiting import accepts, until_sync

SLOW_MS = 1500


def test_in_flight_request_completes_and_readiness_drops(
    echo_modules: tuple[ModuleType, ModuleType],
) -> None:
    with serve_gateway(echo_modules, grace_seconds=10) as live, ThreadPoolExecutor(1) as pool:
        assert httpx.get(f"{live.url}/readyz").status_code == 200
        slow = pool.submit(
            httpx.post,
            f"{live.url}/v1/echo",
            json={"name": "slow"},
            timeout=10,
            headers={"grpc-metadata-x-echo-delay-ms": str(SLOW_MS), "x-request-id": "drain-1"},
        )
        # The request reached the app: uvicorn runs it as a task.
        until_sync(lambda: live.server.server_state.tasks, timeout=5, what="the slow request")
        started = time.monotonic()
        live.server.should_exit = True  # what uvicorn's SIGTERM handler does

        # Draining: no new connections, the in-flight request still runs.
        until_sync(
            lambda: not accepts(int(live.url.rsplit(":", 1)[1])),
            timeout=5,
            what="the listener closed",
        )
        assert not slow.done()

        response = slow.result(timeout=10)
        assert response.status_code == 200
        assert response.json()["request"]["name"] == "slow"
        assert response.headers["x-request-id"] == "drain-1"
        assert time.monotonic() - started < SLOW_MS / 1000 + 2

        live.thread.join(10)
        assert not live.thread.is_alive(), "the server did not stop after the drain"
        assert live.app.draining  # lifespan shutdown ran after the drain


async def test_lifespan_shutdown_turns_readyz_503(make_app: Callable[..., Gateway]) -> None:
    app = make_app()
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        assert (await client.get("/readyz")).status_code == 200
        await app({"type": "lifespan"}, receive, send)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["draining"] is True
    assert r.json()["status"] == "not ready"


pytestmark = pytest.mark.timeout(60)
