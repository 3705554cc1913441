"""Multi-callables: made once per (route, channel object), registered with the core."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

import grpc
import httpx

from gateway import Gateway
from gateway.endpoint import CHANNELS_KEPT, Endpoint


class _Recording:
    """A real channel that counts the multi-callables made on it."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(target)
        self.made: list[dict[str, Any]] = []

    def unary_unary(self, method: str, **kwargs: Any) -> Any:
        self.made.append({"method": method, **kwargs})
        return self.channel.unary_unary(method, **kwargs)

    def unary_stream(self, method: str, **kwargs: Any) -> Any:
        self.made.append({"method": method, **kwargs})
        return self.channel.unary_stream(method, **kwargs)


class _SwitchingProvider:
    """Hands out whichever channel the test sets, as discovery does on an endpoint change."""

    def __init__(self, current: Any) -> None:
        self.current = current

    def channel(self, service: str) -> Any:
        return self.current


def _echo(app: Gateway) -> Endpoint:
    return next(e for e in app.router.routes() if e.rpc.endswith(".Echo"))


async def test_one_registered_callable_per_channel(
    make_app: Callable[..., Gateway], echo_port: int
) -> None:
    first, second = _Recording(f"127.0.0.1:{echo_port}"), _Recording(f"127.0.0.1:{echo_port}")
    provider = _SwitchingProvider(first)
    app = make_app()
    app.channels = provider
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(3):
                assert (await client.post("/v1/echo", json={"name": "a"})).status_code == 200
            assert len(first.made) == 1
            assert first.made[0]["method"] == "/gatewaytest.v1.EchoService/Echo"
            assert first.made[0]["_registered_method"] is True

            provider.current = second  # the endpoint set changed: a new channel object
            for _ in range(3):
                assert (await client.post("/v1/echo", json={"name": "b"})).status_code == 200
            assert len(second.made) == 1

            provider.current = first  # an old channel still alive is not rebuilt for
            assert (await client.post("/v1/echo", json={"name": "c"})).status_code == 200
            assert len(first.made) == 1
    finally:
        await first.channel.close(None)
        await second.channel.close(None)


def test_old_channels_are_let_go(make_app: Callable[..., Gateway]) -> None:
    endpoint = _echo(make_app())

    class Fake:
        def unary_unary(self, method: str, **kwargs: Any) -> object:
            return object()

    channels = [Fake() for _ in range(CHANNELS_KEPT + 2)]
    first = weakref.ref(channels[0])
    for channel in channels:
        endpoint.callable(channel)  # type: ignore[arg-type]
    assert len(endpoint._by_channel) == CHANNELS_KEPT
    del channels[:]
    gc.collect()
    assert first() is None
