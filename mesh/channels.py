"""Channels to services by name that follow the registry's endpoint set.

Python's gRPC has no custom resolver API, so a :class:`ServiceChannels` holds
one ``grpc.aio`` channel per *endpoint set*: the target lists every address
(``ipv4:10.0.0.5:50052,10.0.0.6:50052``) and gRPC itself does the rest:

- ``round_robin`` over the addresses, skipping ones that refuse connections;
- client-side health checking (``healthCheckConfig``): a replica that turns
  NOT_SERVING at shutdown gets no new calls, before the registry even knows;
- outlier detection: an address whose calls keep failing is ejected for a while;
- retries with exponential backoff and jitter for ``UNAVAILABLE`` only, and only
  for methods whose proto declares ``idempotency_level`` (see :func:`retry_methods`).

When the set changes, a new channel takes new calls at once and the old one
is closed after in-flight calls had time to finish.

With TLS every channel is secure and checks the name the target service's
certificate must carry (``server_names``, by default the service name): the
target is a list of addresses, so there is no host name to check otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor, descriptor_pb2
from grpc import aio

from mesh.discovery import Endpoint, EndpointWatcher, Registry
from mesh.errors import Unavailable
from mesh.protos import service_descriptor
from mesh.tls import TARGET_NAME_OVERRIDE, TlsSettings, channel_credentials, server_name
from mesh.topology import Topology

__all__ = ["ChannelPolicy", "ServiceChannels", "channels_to", "retry_methods", "service_config"]

log = logging.getLogger("mesh.channels")

_IDEMPOTENT = {
    descriptor_pb2.MethodOptions.IDEMPOTENT,
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
}


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """Retry and ejection policy of outbound channels (typed, documented values)."""

    # gRPC caps attempts at 5; with the backoff below a retried call rides out about a
    # second of a dead replica (or a database that restarts), measured by scripts/bench chaos.
    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    backoff_multiplier: float = 2.0
    ejection_interval: float = 1.0
    base_ejection_time: float = 5.0
    # How long a replaced channel lives on so that calls already on it can finish.
    retire_after: float = 30.0


def retry_methods(services: Iterable[descriptor.ServiceDescriptor]) -> list[dict[str, str]]:
    """Methods declared idempotent in their proto; only these are retried."""
    names = []
    for service in services:
        for method in service.methods:
            if method.GetOptions().idempotency_level in _IDEMPOTENT:
                names.append({"service": service.full_name, "method": method.name})
    return names


def service_config(idempotent: list[dict[str, str]], policy: ChannelPolicy) -> str:
    def seconds(value: float) -> str:
        return f"{value:.3f}s"

    config: dict[str, Any] = {
        "loadBalancingConfig": [
            {
                "outlier_detection_experimental": {
                    "interval": seconds(policy.ejection_interval),
                    "baseEjectionTime": seconds(policy.base_ejection_time),
                    "maxEjectionTime": seconds(policy.base_ejection_time * 6),
                    "maxEjectionPercent": 50,
                    "failurePercentageEjection": {
                        "threshold": 50,
                        "enforcementPercentage": 100,
                        "minimumHosts": 2,
                        "requestVolume": 5,
                    },
                    "childPolicy": [{"round_robin": {}}],
                }
            }
        ],
        "healthCheckConfig": {"serviceName": ""},
    }
    if idempotent:
        config["methodConfig"] = [
            {
                "name": idempotent,
                "retryPolicy": {
                    "maxAttempts": policy.max_attempts,
                    "initialBackoff": seconds(policy.initial_backoff),
                    "maxBackoff": seconds(policy.max_backoff),
                    "backoffMultiplier": policy.backoff_multiplier,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


def target_for(endpoints: Iterable[Endpoint]) -> str:
    """A multi-address gRPC target, e.g. ``ipv4:10.0.0.5:50052,10.0.0.6:50052``."""
    v4, v6 = [], []
    for endpoint in endpoints:
        if ipaddress.ip_address(endpoint.host).version == 4:
            v4.append(f"{endpoint.host}:{endpoint.port}")
        else:
            v6.append(f"[{endpoint.host}]:{endpoint.port}")
    if v4 and v6:
        # One scheme per target: prefer IPv4 when a service advertises both.
        v6 = []
    return f"ipv4:{','.join(v4)}" if v4 else f"ipv6:{','.join(v6)}"


class _Service:
    """One service's watcher and current channel."""

    def __init__(
        self,
        name: str,
        watcher: EndpointWatcher,
        options: list[tuple[str, Any]],
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.name = name
        self.watcher = watcher
        self.options = options
        self.credentials = credentials
        self.target = ""
        self.channel: aio.Channel | None = None
        self.retiring: set[asyncio.Task[None]] = set()

    def update(self, endpoints: tuple[Endpoint, ...], retire_after: float) -> None:
        target = target_for(endpoints) if endpoints else ""
        if target == self.target:
            return
        old, self.target = self.channel, target
        self.channel = self._open(target) if target else None
        log.info(
            "endpoints changed",
            extra={"target_service": self.name, "endpoints": [e.address for e in endpoints]},
        )
        if old is not None:
            task = asyncio.get_running_loop().create_task(self._retire(old, retire_after))
            self.retiring.add(task)
            task.add_done_callback(self.retiring.discard)

    def _open(self, target: str) -> aio.Channel:
        if self.credentials is None:
            return aio.insecure_channel(target, options=self.options)
        return aio.secure_channel(target, self.credentials, options=self.options)

    @staticmethod
    async def _retire(channel: aio.Channel, after: float) -> None:
        await channel.close(grace=after)

    async def close(self) -> None:
        await self.watcher.stop()
        for task in list(self.retiring):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.channel is not None:
            await self.channel.close(None)
            self.channel = None


class ServiceChannels:
    """Channels by service name, following the registry; a server lifecycle.

    ``channel("inventory")`` returns the current channel or raises
    :class:`~mesh.errors.Unavailable` naming the service when it has no endpoint.
    """

    def __init__(
        self,
        registry: Registry,
        services: Mapping[str, Iterable[descriptor.ServiceDescriptor]],
        *,
        policy: ChannelPolicy | None = None,
        poll_interval: float = 1.0,
        full_refresh_interval: float = 15.0,
        ready_timeout: float = 5.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        close_registry: bool = True,
        tls: TlsSettings | None = None,
        server_names: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.policy = policy or ChannelPolicy()
        self.ready_timeout = ready_timeout
        self.close_registry = close_registry
        self._services: dict[str, _Service] = {}
        credentials = channel_credentials(tls) if tls is not None else None
        for name, descriptors in services.items():
            options: list[tuple[str, Any]] = [
                ("grpc.enable_retries", 1),
                ("grpc.service_config", service_config(retry_methods(descriptors), self.policy)),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                # Addresses in one channel are independent replicas; never share
                # subchannels across retired and current channels.
                ("grpc.use_local_subchannel_pool", 1),
            ]
            if credentials is not None:
                options.append((TARGET_NAME_OVERRIDE, (server_names or {}).get(name, name)))
            watcher = EndpointWatcher(
                registry,
                name,
                poll_interval=poll_interval,
                full_refresh_interval=full_refresh_interval,
            )
            self._services[name] = _Service(name, watcher, options, credentials)

    @property
    def services(self) -> list[str]:
        return list(self._services)

    def watcher(self, service: str) -> EndpointWatcher:
        return self._services[service].watcher

    def registry_calls(self) -> int:
        return sum(
            s.watcher.calls["revision"] + s.watcher.calls["discover"]
            for s in self._services.values()
        )

    def channel(self, service: str) -> aio.Channel:
        entry = self._services.get(service)
        if entry is None:
            raise Unavailable(
                f"{service!r} is not a dependency of this service",
                reason="UNKNOWN_SERVICE",
                metadata={"service": service},
            )
        if entry.channel is None:
            raise Unavailable(
                f"no endpoints for service {service!r}",
                reason="NO_ENDPOINTS",
                metadata={"service": service},
            )
        return entry.channel

    async def start(self, server: Any = None) -> None:
        for entry in self._services.values():
            entry.watcher.subscribe(self._listener(entry))
            entry.watcher.start()
        # Wait a little for a first answer so the first calls find endpoints;
        # a slow registry does not stop start-up (calls fail UNAVAILABLE meanwhile).
        waits = [e.watcher.wait_ready(self.ready_timeout) for e in self._services.values()]
        ready = await asyncio.gather(*waits)
        for entry, ok in zip(self._services.values(), ready, strict=True):
            if ok:
                entry.update(entry.watcher.endpoints, self.policy.retire_after)
            else:
                log.warning("registry has not answered yet", extra={"target_service": entry.name})

    def _listener(self, entry: _Service) -> Callable[[tuple[Endpoint, ...]], None]:
        def on_change(endpoints: tuple[Endpoint, ...]) -> None:
            entry.update(endpoints, self.policy.retire_after)

        return on_change

    async def stop(self) -> None:
        for entry in self._services.values():
            await entry.close()
        if self.close_registry:
            await self.registry.close()


def channels_to(
    registry: Registry,
    services: Iterable[str],
    topology: Topology,
    *,
    tls: TlsSettings | None,
    close_registry: bool = False,
    **options: Any,
) -> ServiceChannels:
    """Channels to ``services`` with their contracts' retry policy and TLS names (any process)."""
    descriptors = {}
    for name in services:
        grpc_service = topology[name].grpc_service
        descriptors[name] = [service_descriptor(grpc_service)] if grpc_service else []
    return ServiceChannels(
        registry,
        descriptors,
        close_registry=close_registry,
        tls=tls,
        server_names={name: server_name(name, topology.namespace) for name in descriptors},
        **options,
    )
