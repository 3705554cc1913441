"""RED metrics of one process, in one prometheus-client registry, served as Prometheus text.

What every process counts (always on: a histogram observation is a list
index and two additions, see :class:`Series`):

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
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "Level", "Metrics", "MetricsServer", "RpcSeries", "Series"]

# Seconds: from a cached read on loopback (0.5 ms) to API Gateway's 30 s limit.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


# As prometheus_client spells them ("0.0005", "1.0", ..., "+Inf").
_BUCKET_NAMES = (*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf")


# The per-call series below take no lock. prometheus_client's own metrics take a
# threading.Lock per update (four per served call: in flight up and down, the sum,
# the bucket), and an uncontended lock costs ~2 us on the Fargate-like hosts we
# measure on, more than the rest of the runtime's bookkeeping. Every writer is a
# coroutine on the process's one event loop, so updates never interleave; a scrape
# (the /metrics thread) reads plain ints and floats under the GIL, at worst one
# observation behind in one field.


class Series:
    """One histogram series (one label set): per-bucket counts and a sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


class Level:
    """A gauge that goes up and down (calls in flight)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class _Histograms(Collector):
    """A histogram family of :class:`Series` by label values, exposed when scraped."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.series: dict[tuple[str, ...], Series] = {}

    def get(self, key: tuple[str, ...]) -> Series:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series()
        return series

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, series in list(self.series.items()):
            cumulative, buckets = 0, []
            for bucket, count in zip(_BUCKET_NAMES, list(series.counts), strict=True):
                cumulative += count
                buckets.append((bucket, float(cumulative)))
            family.add_metric(list(key), buckets, series.total)
        yield family


class _Levels(Collector):
    """A gauge family of :class:`Level` by label values (none: one unlabelled gauge)."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.levels: dict[tuple[str, ...], Level] = {} if labels else {(): Level()}

    def get(self, key: tuple[str, ...]) -> Level:
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level()
        return level

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, level in list(self.levels.items()):
            family.add_metric(list(key), float(level.value))
        yield family


class RpcSeries:
    """The server metrics of one method, looked up once when its handler is wrapped."""

    __slots__ = ("_codes", "_histograms", "_ok", "in_flight", "rpc")

    def __init__(self, rpc: str, histograms: _Histograms, in_flight: Level) -> None:
        self.rpc = rpc
        self.in_flight = in_flight
        self._histograms = histograms
        self._ok: Series | None = None  # made on the first OK: no empty series before
        self._codes: dict[str, Series] = {}

    def observe(self, code: str, seconds: float) -> None:
        if code == "OK":
            series = self._ok
            if series is None:
                series = self._ok = self._histograms.get((self.rpc, code))
        else:
            series = self._codes.get(code)
            if series is None:
                series = self._codes[code] = self._histograms.get((self.rpc, code))
        series.observe(seconds)


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
    >>> metrics.rpc("/shop.orders.v1.OrdersService/GetOrder").observe("NOT_FOUND", 0.002)
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
        self._rpc_server = _Histograms(
            "mesh_rpc_server_duration_seconds",
            "Served gRPC calls by method and status code",
            ("rpc", "code"),
        )
        self._rpc_in_flight = _Levels(
            "mesh_rpc_server_in_flight", "gRPC calls being served", ("rpc",)
        )
        self._rpc_client = _Histograms(
            "mesh_rpc_client_duration_seconds",
            "Outbound gRPC calls by target service, method and status code",
            ("target", "rpc", "code"),
        )
        self._http_server = _Histograms(
            "mesh_http_server_duration_seconds",
            "HTTP requests by route template, method and status",
            ("route", "method", "status"),
        )
        http_in_flight = _Levels("mesh_http_server_in_flight", "HTTP requests being served")
        self.http_in_flight = http_in_flight.get(())
        for collector in (
            self._rpc_server,
            self._rpc_in_flight,
            self._rpc_client,
            self._http_server,
            http_in_flight,
        ):
            registry.register(collector)
        self._sources = _Sources()
        registry.register(self._sources)
        self._rpcs: dict[str, RpcSeries] = {}

    def rpc(self, rpc: str) -> RpcSeries:
        """The served-call series of one method (``/pkg.Service/Method``); keep it per method."""
        series = self._rpcs.get(rpc)
        if series is None:
            series = self._rpcs[rpc] = RpcSeries(
                rpc, self._rpc_server, self._rpc_in_flight.get((rpc,))
            )
        return series

    def client_done(self, target: str, rpc: str, code: str, seconds: float) -> None:
        self._rpc_client.get((target, rpc, code)).observe(seconds)

    def http_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self._http_server.get((route, method, str(status))).observe(seconds)

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
