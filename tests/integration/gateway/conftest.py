from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import httpx
import pytest

from gateway import Gateway, LocalChannelProvider, Settings, create_app
from gateway.sourceinfo import load_comments
from tests.gateway_support.echo import SERVICE, compile_echo, start_echo_server

ECHO = {"echo": SERVICE}


@pytest.fixture(scope="session")
def echo_modules(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    return compile_echo(tmp_path_factory.mktemp("echo_gen"))


@pytest.fixture
async def echo_port(echo_modules: tuple[ModuleType, ModuleType]) -> AsyncIterator[int]:
    server, port = await start_echo_server(*echo_modules)
    yield port
    await server.stop(None)


@pytest.fixture
async def provider(echo_port: int) -> AsyncIterator[LocalChannelProvider]:
    channels = LocalChannelProvider({"echo": echo_port})
    yield channels
    await channels.close()


@pytest.fixture
def make_app(provider: LocalChannelProvider) -> Callable[..., Gateway]:
    def make(**overrides: Any) -> Gateway:
        settings = Settings(access_log=False, **overrides)
        return create_app(
            provider,
            services=ECHO,
            settings=settings,
            generated_package=None,
            comments=load_comments("gatewaytest"),
        )

    return make


@pytest.fixture
async def client(make_app: Callable[..., Gateway]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c
