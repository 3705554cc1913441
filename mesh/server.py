"""Serve a service on the mesh runtime: one composition root for every process.

A :class:`MeshServer` wraps a ``grpc.aio`` server with what every service needs:
``grpc.health.v1`` per service, server reflection (so grpcurl needs no protos),
the interceptor (errors, request context, access log) and an ordered shutdown:
health NOT_SERVING, deregister, a lame-duck pause until calls stop arriving,
drain in-flight calls within the grace, close resources. :func:`run_service` adds signal handling around it for ``__main__``.
With ``tls`` (see :mod:`mesh.tls`) the port speaks only TLS, mutual by default.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh.accesslog import AccessLog
from mesh.health import HealthServicer
from mesh.interceptors import MeshInterceptor, Registrar
from mesh.metrics import Metrics
from mesh.telemetry import Telemetry
from mesh.tls import TlsSettings, peer_identity, server_credentials

__all__ = ["Announcer", "Lifecycle", "MeshServer", "ServiceUnit", "run_service"]

log = logging.getLogger("mesh.server")


class Lifecycle(Protocol):
    """Something that starts with the server and stops after it drained (a database, a registration)."""

    async def start(self, server: MeshServer) -> None: ...

    async def stop(self) -> None: ...


class Announcer(Protocol):
    """Something that tells the world the server is up (and takes it back first at shutdown)."""

    async def announce(self, server: MeshServer) -> None: ...

    async def withdraw(self) -> None: ...


@dataclass
class ServiceUnit:
    """What a service contributes: its proto service names and how to add its servicers."""

    name: str
    grpc_services: Sequence[str]
    add_to_server: Callable[[aio.Server], None]
    # Started in order after the port is bound; stopped in reverse after draining.
    lifecycles: Sequence[Lifecycle] = field(default_factory=tuple)
    # Called once shutdown begins, before draining (e.g. end open streams).
    on_shutdown: Callable[[], Awaitable[None]] | None = None
    # Told once the server is SERVING, and first thing at shutdown (registrations).
    announcers: Sequence[Announcer] = field(default_factory=tuple)


# How long without a new call counts as "clients stopped sending" at shutdown.
_QUIET_SECONDS = 0.1


class MeshServer:
    def __init__(
        self,
        unit: ServiceUnit,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        shutdown_grace: float = 10.0,
        lame_duck: float = 2.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        access_log: bool = True,
        interceptors: Sequence[aio.ServerInterceptor[Any, Any]] = (),
        tls: TlsSettings | None = None,
        principal_senders: frozenset[str] | None = None,
        telemetry: Telemetry | None = None,
        metrics: Metrics | None = None,
        replica: str = "0",
    ) -> None:
        self.unit = unit
        self.host = host
        self.requested_port = port
        self.shutdown_grace = shutdown_grace
        self.lame_duck = lame_duck
        self.port = 0
        self.health = HealthServicer()
        self.access_log = AccessLog(unit.name, replica=replica) if access_log else None
        self.telemetry = telemetry or Telemetry.off(unit.name)
        # Always counted (a histogram observation is about a microsecond); served when asked.
        self.metrics = metrics or Metrics(unit.name, replica)
        # With mutual TLS, principal metadata is believed only from these peers' certificates
        # (the gateway); None: from whoever can reach the port (the network is the boundary).
        trust = None
        if principal_senders is not None:
            senders = principal_senders

            def trust(context: Any) -> bool:
                return peer_identity(context) in senders

        self._calls = MeshInterceptor(
            unit.name,
            access_log=self.access_log,
            trust=trust,
            telemetry=self.telemetry,
            metrics=self.metrics,
        )
        self._interceptors = list(interceptors)
        self._max_message_bytes = max_message_bytes
        self.tls = tls
        self._server: aio.Server | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        # The aio server binds to the running loop, so it is made here, not in __init__.
        self._server = aio.server(
            interceptors=self._interceptors or None,
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", self._max_message_bytes),
                # Two replicas must never share a port by accident.
                ("grpc.so_reuseport", 0),
            ],
        )
        unit = self.unit
        unit.add_to_server(Registrar(self._server, self._calls))  # type: ignore[arg-type]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            [*unit.grpc_services, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        bind = f"{host}:{self.requested_port}"
        if self.tls is None:
            self.port = self._server.add_insecure_port(bind)
        else:
            self.port = self._server.add_secure_port(bind, server_credentials(self.tls))
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{self.requested_port}")
        for name in ["", *unit.grpc_services]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        try:
            for lifecycle in unit.lifecycles:
                await lifecycle.start(self)
        except BaseException:
            await self._server.stop(0)
            raise
        for name in ["", *unit.grpc_services]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.metrics.serving.set(1)
        for announcer in unit.announcers:
            await announcer.announce(self)
        log.info(
            "serving",
            extra={
                "address": self.address,
                "services": list(unit.grpc_services),
                # "uvloop" or "asyncio" (MESH_EVENT_LOOP): which loop this process runs on.
                "event_loop": type(asyncio.get_running_loop()).__module__.partition(".")[0],
            },
        )

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, shutdown hooks, drain within the grace, then lifecycles in reverse."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.shutdown_grace if grace is None else grace
        log.info("shutting down", extra={"grace_seconds": grace})
        self.metrics.serving.set(0)
        await self.health.enter_graceful_shutdown()
        for announcer in self.unit.announcers:
            await announcer.withdraw()
        if self.unit.on_shutdown is not None:
            await self.unit.on_shutdown()
        await self._lame_duck(min(self.lame_duck, grace))
        self.health.end_watches()
        if self._server is not None:
            await self._server.stop(grace)
        for lifecycle in reversed(self.unit.lifecycles):
            try:
                await lifecycle.stop()
            except Exception:
                log.exception("error while stopping %s", type(lifecycle).__name__)
        if self.access_log is not None:
            self.access_log.flush()
        self._stopped.set()
        log.info("stopped")

    async def _lame_duck(self, limit: float) -> None:
        """Keep serving until no call has started for a moment, or ``limit`` seconds.

        gRPC core cancels calls that reached the server but that the application has
        not picked up yet when ``stop`` begins: a busy replica answered CANCELLED to
        requests its clients sent just before they saw NOT_SERVING. Clients that check
        health stop sending within a round trip of the status change, so a short pause
        until calls stop arriving turns those into calls served here.
        """
        quiet = min(_QUIET_SECONDS, limit)
        deadline = time.perf_counter() + limit
        while True:
            now = time.perf_counter()
            idle = now - self._calls.last_call
            if idle >= quiet or now >= deadline:
                return
            await asyncio.sleep(min(quiet - idle, deadline - now))

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


async def run_service(server: MeshServer) -> int:
    """Start, serve until SIGTERM or SIGINT, stop in order. Returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    waiter = asyncio.ensure_future(server.wait_for_termination())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    await server.stop()
    for task in (waiter, stopper):
        task.cancel()
    return 0
