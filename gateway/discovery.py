"""The gateway on the mesh: backends found through the registry (Cloud Map on AWS).

:func:`mesh_app` builds the gateway with a :class:`MeshChannels` provider and
wraps it so the endpoint watchers start with the server and stop after it.
"""

from __future__ import annotations

from typing import Any

import grpc

from gateway.app import Gateway, create_app
from gateway.asgi import Receive, Scope, Send
from gateway.errors import GatewayError, retry_after
from gateway.settings import Settings
from mesh.channels import ServiceChannels
from mesh.config import Settings as MeshSettings
from mesh.config import load_settings
from mesh.errors import MeshError
from mesh.service import build_channels, build_registry
from mesh.topology import load_topology

__all__ = ["MeshChannels", "WithDiscovery", "mesh_app"]

GATEWAY_SERVICE = "gateway"


class MeshChannels:
    """ChannelProvider over the mesh's discovery-backed channels."""

    def __init__(self, channels: ServiceChannels) -> None:
        self.channels = channels

    def channel(self, service: str) -> grpc.aio.Channel:
        try:
            return self.channels.channel(service)
        except MeshError as error:
            raise GatewayError(
                error.message,
                http_status=503,
                code=grpc.StatusCode.UNAVAILABLE,
                headers=retry_after(503),
            ) from None


class WithDiscovery:
    """ASGI wrapper: starts the channels at lifespan startup, stops them after the gateway."""

    def __init__(self, app: Gateway, channels: ServiceChannels) -> None:
        self.app = app
        self.channels = channels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def startup_first() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.channels.start()
            return message

        try:
            await self.app(scope, startup_first, send)
        finally:
            await self.channels.stop()


def mesh_app(settings: Settings, mesh_settings: MeshSettings | None = None) -> WithDiscovery:
    topology = load_topology()
    mesh_settings = mesh_settings or load_settings(GATEWAY_SERVICE, topology=topology)
    registry = build_registry(mesh_settings, topology)
    channels = build_channels(mesh_settings, registry, mesh_settings.dependencies, topology)
    channels.close_registry = True
    services = {
        name: grpc_service
        for name in mesh_settings.dependencies
        if (grpc_service := topology[name].grpc_service) is not None
    }
    app = create_app(MeshChannels(channels), services=services, settings=settings)
    return WithDiscovery(app, channels)
