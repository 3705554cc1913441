"""Where the gateway gets its gRPC channels: one small seam.

The mesh runtime plugs in a discovery-backed provider; tests and local runs
use :class:`LocalChannelProvider`, which dials ``127.0.0.1:<port>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import grpc

__all__ = ["ChannelProvider", "LocalChannelProvider"]


@runtime_checkable
class ChannelProvider(Protocol):
    def channel(self, service: str) -> grpc.aio.Channel:
        """A channel to the mesh service named ``service`` (e.g. ``"catalog"``).

        Called per request: return a cached channel, not a new one.
        """
        ...


class LocalChannelProvider:
    """One insecure channel per service to a fixed loopback port.

    >>> provider = LocalChannelProvider({"catalog": 50051})
    """

    def __init__(self, ports: Mapping[str, int], host: str = "127.0.0.1") -> None:
        self._targets = {name: f"{host}:{port}" for name, port in ports.items()}
        self._channels: dict[str, grpc.aio.Channel] = {}

    @classmethod
    def from_topology(cls) -> LocalChannelProvider:
        from mesh.topology import load_topology

        topology = load_topology()
        return cls({s.name: s.port for s in topology.services.values() if s.protocol == "grpc"})

    def channel(self, service: str) -> grpc.aio.Channel:
        channel = self._channels.get(service)
        if channel is None:
            try:
                target = self._targets[service]
            except KeyError:
                raise LookupError(f"no address for service {service!r}") from None
            # Channels bind to the running event loop, so they are made lazily.
            channel = grpc.aio.insecure_channel(target)
            self._channels[service] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close(None)
