"""The gateway on the mesh: backends found through the registry (Cloud Map on AWS).

:func:`discovery_channels` makes the channel provider :func:`gateway.app.create_app`
uses by default: the mesh's :class:`~mesh.channels.ServiceChannels` to the
gateway's ``depends_on``, behind the gateway's :class:`ChannelProvider` seam.
"""

from __future__ import annotations

import grpc

from gateway.errors import GatewayError, retry_after
from mesh.channels import ServiceChannels
from mesh.config import Settings as MeshSettings
from mesh.errors import MeshError
from mesh.service import build_channels, build_registry
from mesh.topology import Topology

__all__ = ["MeshChannels", "discovery_channels"]


class MeshChannels:
    """ChannelProvider over the mesh's discovery-backed channels."""

    def __init__(self, channels: ServiceChannels, services: dict[str, str]) -> None:
        self.channels = channels
        # mesh service name → proto service name, the backends this gateway routes to.
        self.services = services

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


def discovery_channels(
    settings: MeshSettings, topology: Topology
) -> tuple[MeshChannels, ServiceChannels]:
    """The provider, and the channels to start and stop with the server (they own the registry)."""
    registry = build_registry(settings, topology)
    channels = build_channels(settings, registry, settings.dependencies, topology)
    channels.close_registry = True
    services = {
        name: grpc_service
        for name in settings.dependencies
        if (grpc_service := topology[name].grpc_service) is not None
    }
    return MeshChannels(channels, services), channels
