"""RED metrics of one process, in one prometheus-client registry, served as Prometheus text.

What every process counts (always on: a histogram observation is about a
microsecond):

========================================  =========================================
``mesh_rpc_server_duration_seconds``      histogram per ``rpc`` and ``code``: the
                                          served calls (its ``_count`` is the rate,
                                          ``code!="OK"`` the errors)
``mesh_rpc_server_in_flight``             calls being served, per ``rpc``
``mesh_rpc_client_duration_seconds``      outbound calls per ``target``, ``rpc``, ``code``
``mesh_http_server_duration_seconds``     the gateway's requests per ``route`` (the
                                          path template, never the path), ``method``,
                                          ``status``
``mesh_http_server_in_flight``            requests being served by the gateway
``mesh_discovery_endpoints``              endpoints known per ``target`` service
``mesh_discovery_cache_age_seconds``      since the registry last answered, per ``target``
``mesh_db_pool_connections``              database pool per ``state`` (``checked_out``,
                                          ``idle``, ``overflow``) and its ``size``
``mesh_serving``                          1 while the process reports SERVING
``mesh_process_info``                     1, labelled ``service`` and ``replica``
========================================  =========================================

Labels never carry a request's own data (ids, paths, principals): their
values are method names, route templates and status codes, so the series
stay few and hold no secret. On AWS the ADOT collector scrapes the endpoint
and ships the same series to CloudWatch (EMF); locally ``scripts/top`` reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "Metrics", "MetricsServer"]

# Seconds: from a cached read on loopback (0.5 ms) to API Gateway's 30 s limit.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass(eq=False)  # registered by identity
class _Sources(Collector):
    """Gauges read when scraped: discovery caches and database pools."""

    watchers: list[tuple[str, Any]] = field(default_factory=list)
    pools: list[Any] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        endpoints = GaugeMetricFamily(
            "mesh_discovery_endpoints", "Endpoints known per target service", labels=["target"]
        )
        age = GaugeMetricFamily(
            "mesh_discovery_cache_age_seconds",
            "Seconds since the registry last answered for a target service",
            labels=["target"],
        )
        now = time.monotonic()
        for name, watcher in self.watchers:
            endpoints.add_metric([name], len(watcher.endpoints))
            refreshed = getattr(watcher, "refreshed_at", None)
            if refreshed is not None:
                age.add_metric([name], now - refreshed)
        yield endpoints
        yield age
        pool_family = GaugeMetricFamily(
            "mesh_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        for pool in self.pools:
            for state, read in (
                ("checked_out", "checkedout"),
                ("idle", "checkedin"),
                ("overflow", "overflow"),
                ("size", "size"),
            ):
                method = getattr(pool, read, None)
                if callable(method):
                    pool_family.add_metric([state], max(0, int(method())))
        yield pool_family


class Metrics:
    """The metrics of one process. Its own registry, so test servers in one process never mix.

    >>> metrics = Metrics("orders", "0")
    >>> metrics.rpc_done("/shop.orders.v1.OrdersService/GetOrder", "NOT_FOUND", 0.002)
    """

    def __init__(self, service: str, replica: str = "0") -> None:
        self.service = service
        self.registry = CollectorRegistry()
        registry = self.registry
        Gauge("mesh_process_info", "The process", ["service", "replica"], registry=registry).labels(
            service, replica
        ).set(1)
        self.serving = Gauge(
            "mesh_serving", "1 while the process reports SERVING", registry=registry
        )
        self._rpc_server = Histogram(
            "mesh_rpc_server_duration_seconds",
            "Served gRPC calls by method and status code",
            ["rpc", "code"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._rpc_in_flight = Gauge(
            "mesh_rpc_server_in_flight", "gRPC calls being served", ["rpc"], registry=registry
        )
        self._rpc_client = Histogram(
            "mesh_rpc_client_duration_seconds",
            "Outbound gRPC calls by target service, method and status code",
            ["target", "rpc", "code"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._http_server = Histogram(
            "mesh_http_server_duration_seconds",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "mesh_http_server_in_flight", "HTTP requests being served", registry=registry
        )
        self._sources = _Sources()
        registry.register(self._sources)
        # Label children cached: .labels() is a lock and a dict lookup more per call.
        self._children: dict[tuple[str, ...], Any] = {}

    def rpc_started(self, rpc: str) -> Callable[[], None]:
        """Counts a call in flight; returns what takes it out again."""
        gauge = self._child(self._rpc_in_flight, ("in", rpc))
        gauge.inc()
        return gauge.dec  # type: ignore[no-any-return]

    def rpc_done(self, rpc: str, code: str, seconds: float) -> None:
        self._child(self._rpc_server, ("s", rpc, code)).observe(seconds)

    def client_done(self, target: str, rpc: str, code: str, seconds: float) -> None:
        self._child(self._rpc_client, ("c", target, rpc, code)).observe(seconds)

    def http_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self._http_server, ("h", route, method, str(status))).observe(seconds)

    def _child(self, metric: Any, key: tuple[str, ...]) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*key[1:])
        return child

    def watch_discovery(self, watchers: Iterable[tuple[str, Any]]) -> None:
        """Endpoint counts and cache age of these (service name, EndpointWatcher) pairs."""
        self._sources.watchers.extend(watchers)

    def watch_pool(self, pool: Any) -> None:
        """A SQLAlchemy pool (``engine.sync_engine.pool``)."""
        self._sources.pools.append(pool)

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class MetricsServer:
    """``/metrics`` on ``host:port`` (port 0: a free one) in a daemon thread; a server lifecycle."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.requested_port = port
        self.port = 0
        self._server: Any = None

    def start_now(self) -> int:
        if self._server is None:
            self._server, _thread = start_http_server(
                self.requested_port, addr=self.host, registry=self.metrics.registry
            )
            self.port = int(self._server.server_port)
        return self.port

    async def start(self, server: Any = None) -> None:
        self.start_now()

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            import asyncio

            await asyncio.to_thread(server.shutdown)  # waits for the serving loop's next poll
            server.server_close()
