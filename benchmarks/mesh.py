"""scripts/bench mesh: what the mesh runtime costs, measured against bare grpc.aio.

In one run, on loopback, against the same kind of server:

1. client side: unary calls through the mesh (discovery + balancing + the
   call wrapper: deadline, request id, error mapping) vs a bare ``grpc.aio``
   channel to the same server: throughput ratio (target >= 0.95), p50/p99;
2. server side: a service on the mesh runtime as it runs in production
   (interceptors, access log on into a file, RED metrics, health, reflection,
   registration) vs a bare ``grpc.aio`` server with the same servicer and none
   of that: CPU per request of the server process at the same fixed rate
   (target <= 1.05x);
3. registry calls per minute of one client, idle and under load;
4. what tracing costs the server: CPU per request on the mesh runtime with
   tracing off, 10 % and 100 % sampled, exported over OTLP/HTTP to a sink
   (see :mod:`benchmarks.tracing`); metrics are on in every row.

Phases alternate (bare, mesh, bare, mesh) and the best of each is kept, so a
noisy neighbour hurts both alike. The last line is ``ratio: X.XX`` (mesh/bare
throughput).

    python -m benchmarks.mesh [--seconds 6] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio

from mesh.channels import ServiceChannels
from mesh.clients import Clients
from mesh.discovery import LocalRegistry
from mesh.protos import service_descriptor
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.type.v1.money_pb2 import Money

SERVICE = "catalog"
REQUEST = catalog_pb2.GetProductRequest(name="products/mug")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class FixedCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """GetProduct from memory: the benchmark measures the runtime, not a database."""

    def __init__(self) -> None:
        self.reply = catalog_pb2.GetProductResponse(
            product=catalog_pb2.Product(
                name="products/mug",
                sku="mug",
                display_name="Mug",
                price=Money(currency_code="EUR", amount_minor=1200),
                active=True,
            )
        )

    async def GetProduct(self, request: Any, context: Any) -> Any:
        return self.reply


# -- server processes -------------------------------------------------------


async def serve(mode: str, port_file: Path, registry_file: Path) -> None:
    servicer: Any = FixedCatalog()  # type: ignore[abstract]  # only GetProduct is served
    if mode == "bare":
        server = aio.server()
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        port_file.write_text(str(port))
        await server.wait_for_termination()
        return
    from mesh.config import load_telemetry
    from mesh.logs import configure_logging
    from mesh.registration import Registration
    from mesh.server import MeshServer, ServiceUnit
    from mesh.telemetry import Telemetry

    # The access log stays on and goes to a file, as it would to CloudWatch.
    log = open(port_file.with_suffix(".log"), "w")  # noqa: SIM115 - lives as long as the process
    sys.stderr = log
    configure_logging(SERVICE)
    registry = LocalRegistry(registry_file)
    unit = ServiceUnit(
        SERVICE,
        [catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name],
        lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, s),
        # The tracing phases' servers are called directly, never found through the registry.
        announcers=[Registration(registry, SERVICE, "127.0.0.1")] if mode == "mesh" else [],
    )
    # MESH_TRACES_* from the environment (off unless the tracing phases set them).
    telemetry = Telemetry.from_settings(load_telemetry(SERVICE))
    mesh_server = MeshServer(unit, port=0, telemetry=telemetry)  # access log on, as in production
    await mesh_server.start()
    port_file.write_text(str(mesh_server.port))
    await mesh_server.wait_for_termination()


# -- measurement ------------------------------------------------------------


@dataclass
class Result:
    label: str
    calls: int
    seconds: float
    latencies: list[float]
    server_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return self.calls / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def cpu_per_request_ms(self) -> float:
        return self.server_cpu / self.calls * 1000 if self.calls else 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


async def load(
    label: str,
    call: Callable[[], Awaitable[Any]],
    seconds: float,
    concurrency: int,
    pid: int,
    rate: float = 0.0,
) -> Result:
    """Closed loop (each worker calls again at once), or ``rate`` calls per second in all."""
    latencies: list[float] = []
    stop_at = 0.0
    interval = concurrency / rate if rate else 0.0

    async def worker(offset: float) -> None:
        due = time.perf_counter() + offset
        while time.perf_counter() < stop_at:
            if interval:
                due += interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    for _ in range(200):  # warm connections and caches
        await call()
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(worker(i * interval / concurrency) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Result(label, len(latencies), elapsed, latencies, cpu_seconds(pid) - cpu_before)


def start_server(
    mode: str, tmp: Path, registry_file: Path, env: dict[str, str] | None = None, name: str = ""
) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp / f"{name or mode}.port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.mesh",
            "--serve",
            mode,
            str(port_file),
            str(registry_file),
        ],
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{mode} server did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def report(result: Result) -> None:
    print(
        f"{result.label:<28} {result.rps:9.0f} rps  p50 {result.pct(0.5):6.2f} ms  "
        f"p99 {result.pct(0.99):6.2f} ms  server CPU {result.cpu_per_request_ms:.3f} ms/req"
    )


async def run(seconds: float, concurrency: int, rounds: int, rate: float) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench-mesh-"))
    registry_file = tmp / "registry.json"
    bare_proc, bare_port = start_server("bare", tmp, registry_file)
    mesh_proc, mesh_port = start_server("mesh", tmp, registry_file)
    registry = LocalRegistry(registry_file)
    channels = ServiceChannels(
        registry,
        {SERVICE: [service_descriptor("shop.catalog.v1.CatalogService")]},
        poll_interval=1.0,
        full_refresh_interval=15.0,
    )
    await channels.start()
    clients = Clients(channels)
    bare_channel = aio.insecure_channel(f"127.0.0.1:{mesh_port}")
    bare_to_bare = aio.insecure_channel(f"127.0.0.1:{bare_port}")
    bare_stub = catalog_pb2_grpc.CatalogServiceStub(bare_channel)
    to_bare_server = catalog_pb2_grpc.CatalogServiceStub(bare_to_bare)
    mesh_stub = catalog_pb2_grpc.CatalogServiceStub(clients.channel(SERVICE))

    async def bare_call() -> Any:
        return await bare_stub.GetProduct(REQUEST, timeout=5)

    async def mesh_call() -> Any:
        return await clients.call(mesh_stub.GetProduct, REQUEST, service=SERVICE)

    async def on_bare_server() -> Any:
        return await to_bare_server.GetProduct(REQUEST, timeout=5)

    try:
        watcher = channels.watcher(SERVICE)
        idle_before, idle_started = channels.registry_calls(), time.monotonic()
        await asyncio.sleep(max(10.0, seconds))
        idle_per_min = (
            (channels.registry_calls() - idle_before) / (time.monotonic() - idle_started) * 60
        )

        client_bare: list[Result] = []
        client_mesh: list[Result] = []
        server_bare: list[Result] = []
        server_mesh: list[Result] = []
        load_before, load_started = channels.registry_calls(), time.monotonic()
        for _ in range(rounds):
            client_bare.append(
                await load("client: bare channel", bare_call, seconds, concurrency, mesh_proc.pid)
            )
            client_mesh.append(
                await load("client: mesh channel", mesh_call, seconds, concurrency, mesh_proc.pid)
            )
            # Server CPU per request is compared at the same fixed request rate: at
            # different rates, batching alone changes the cost per request. The two
            # servers swap order every round, so a drifting host hurts both alike.
            phases = [
                ("server: mesh runtime", bare_call, mesh_proc.pid, server_mesh),
                ("server: bare grpc.aio", on_bare_server, bare_proc.pid, server_bare),
            ]
            for label, call, pid, results in phases if len(server_mesh) % 2 == 0 else phases[::-1]:
                results.append(await load(label, call, seconds, concurrency, pid, rate))
        load_per_min = (
            (channels.registry_calls() - load_before) / (time.monotonic() - load_started) * 60
        )
        best_bare = max(client_bare, key=lambda r: r.rps)
        best_mesh = max(client_mesh, key=lambda r: r.rps)
        mesh_server = min(server_mesh, key=lambda r: r.cpu_per_request_ms)
        bare_server = min(server_bare, key=lambda r: r.cpu_per_request_ms)
        # Equal rates only if both kept up: a server that fell behind was saturated,
        # and its CPU per call is then a queue's, not the runtime's.
        behind = [r.label for r in (*server_mesh, *server_bare) if r.rps < 0.97 * rate]
        print(
            f"\nunary GetProduct, {concurrency} concurrent callers, {seconds:g} s per phase, best of {rounds}"
        )
        for result in (best_bare, best_mesh, bare_server, mesh_server):
            report(result)
        ratio = best_mesh.rps / best_bare.rps
        cpu_ratio = mesh_server.cpu_per_request_ms / bare_server.cpu_per_request_ms
        spread = (
            statistics.pstdev([r.rps for r in client_bare]) / best_bare.rps if rounds > 1 else 0
        )
        print(
            f"\nclient throughput mesh/bare: {ratio:.3f} (target >= 0.95; bare spread {spread:.1%})"
        )
        print(
            f"server CPU per request mesh/bare at {rate:g} calls/s: {cpu_ratio:.3f} (target <= 1.05;"
            " per round "
            + ", ".join(
                f"{m.cpu_per_request_ms / b.cpu_per_request_ms:.3f}"
                for m, b in zip(server_mesh, server_bare, strict=True)
            )
            + ")"
        )
        if behind:
            print(
                f"  not at equal rates: {len(behind)} server phase(s) fell below 97 % of "
                f"{rate:g} calls/s ({', '.join(sorted(set(behind)))}); try a lower --rate"
            )
        print(
            f"registry calls per minute per client: idle {idle_per_min:.0f}, under load {load_per_min:.0f} "
            f"(load: {sum(r.calls for r in client_mesh)} mesh calls; revision polls "
            f"{watcher.calls['revision']}, full fetches {watcher.calls['discover']})"
        )
        await tracing_rows(tmp, registry_file, seconds, concurrency, rounds, rate)
        return ratio
    finally:
        await bare_channel.close(None)
        await bare_to_bare.close(None)
        await channels.stop()
        for process in (bare_proc, mesh_proc):
            process.terminate()
            process.wait(10)


async def tracing_rows(
    tmp: Path, registry_file: Path, seconds: float, concurrency: int, rounds: int, rate: float
) -> None:
    """Server CPU per request with tracing off, 10 % and 100 % sampled (benchmarks.tracing)."""
    from benchmarks.tracing import MODES, report, sink, tracing_env

    sink_port = free_port()
    with sink(sink_port):
        servers = {
            label: start_server(
                "traced", tmp, registry_file, tracing_env(ratio, sink_port), f"traced-{i}"
            )
            for i, (label, ratio) in enumerate(MODES.items())
        }
        channels = {
            label: aio.insecure_channel(f"127.0.0.1:{port}") for label, (_, port) in servers.items()
        }
        try:
            best: dict[str, float] = {}
            for _ in range(rounds):  # modes alternate, the best of each is kept
                for label, channel in channels.items():
                    stub = catalog_pb2_grpc.CatalogServiceStub(channel)

                    async def call(stub: Any = stub) -> Any:
                        return await stub.GetProduct(REQUEST, timeout=5)

                    pid = servers[label][0].pid
                    result = await load(label, call, seconds, concurrency, pid, rate)
                    best[label] = min(best.get(label, float("inf")), result.cpu_per_request_ms)
            report(
                best.__getitem__,
                f"tracing: server CPU per request at {rate:g} calls/s, exported over OTLP/HTTP",
            )
        finally:
            for channel in channels.values():
                await channel.close(None)
            for process, _ in servers.values():
                process.terminate()
                process.wait(10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(prog="scripts/bench mesh", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rate",
        type=float,
        default=2000.0,
        # Both servers must keep up for the CPU per call to compare: at 3,000 calls/s on
        # 2 cores, with the load generator on them too, the servers ran at saturation and
        # the runtime's fell behind (2,830-2,920 calls/s) in half the runs.
        help="calls/s of the server-side phases (default 2000)",
    )
    opts = parser.parse_args()
    if not (0 < opts.seconds <= 120 and 0 < opts.concurrency <= 1024 and 0 < opts.rounds <= 10):
        parser.error("--seconds in (0, 120], --concurrency in 1..1024, --rounds in 1..10")
    if not 0 < opts.rate <= 100_000:
        parser.error("--rate in (0, 100000]")
    ratio = asyncio.run(run(opts.seconds, opts.concurrency, opts.rounds, opts.rate))
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
