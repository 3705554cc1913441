"""Stopping a busy replica: what its clients see.

gRPC core cancels the calls that reached a server but that the application had
not picked up yet when ``stop`` begins. Under load that is most of the calls on
the wire, and their clients get CANCELLED (the gateway's 499), which no retry
policy may repeat. The lame-duck pause after NOT_SERVING closes that window.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.server import MeshServer
from tests.support import slow_service
from tests.support.waiting import until

# The same client-side health checking mesh.channels configures.
_CHECKED = json.dumps(
    {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}
)
CALLERS = 48


async def _stop_under_load(lame_duck: float) -> collections.Counter[str]:
    server = MeshServer(
        slow_service.unit(), shutdown_grace=5.0, lame_duck=lame_duck, access_log=False
    )
    await server.start()
    codes: collections.Counter[str] = collections.Counter()
    running = True
    async with aio.insecure_channel(
        server.address, options=[("grpc.service_config", _CHECKED)]
    ) as channel:
        call = channel.unary_unary(slow_service.METHOD, None, None)

        async def caller() -> None:
            while running:
                try:
                    await call(b"2", timeout=5)  # 2 ms of work each
                    codes["OK"] += 1
                except aio.AioRpcError as exc:
                    codes[exc.code().name] += 1
                    await asyncio.sleep(0.005)  # a refused client backs off, not spins

        async def busy() -> bool:
            return codes["OK"] >= 200  # the server is busy: calls queue in gRPC core

        callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
        await until(busy, what="200 calls served")
        await server.stop()
        running = False
        await asyncio.gather(*callers)
    return codes


@pytest.mark.timeout(60)
async def test_a_busy_replica_stopping_answers_no_call_cancelled() -> None:
    codes = await _stop_under_load(lame_duck=2.0)
    assert codes["CANCELLED"] == 0, codes
    # What its clients saw instead: served, or refused before it started (retryable).
    assert set(codes) <= {"OK", "UNAVAILABLE"}, codes


@pytest.mark.timeout(60)
async def test_without_the_pause_the_same_stop_cancels_calls() -> None:
    # The race the pause closes, shown on this machine: the test above can fail.
    codes = await _stop_under_load(lame_duck=0.0)
    assert codes["CANCELLED"] > 0, codes


@pytest.mark.timeout(30)
async def test_an_open_health_watch_does_not_hold_the_stop() -> None:
    server = MeshServer(slow_service.unit(), shutdown_grace=10.0, access_log=False)
    await server.start()
    async with aio.insecure_channel(server.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        began = time.perf_counter()
        await server.stop()
        took = time.perf_counter() - began
        update = await watch.read()
        ended = await asyncio.wait_for(watch.code(), 5)
    assert took < 5.0, f"stop waited {took:.1f} s for the Watch stream (grace 10 s)"
    assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert ended == grpc.StatusCode.OK  # the stream ended; the client may watch elsewhere
