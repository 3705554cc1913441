"""``scripts/bench gateway``: what the gateway costs per request against a naive proxy, on equal terms.

Both fronts serve ``GET /v1/orders/{id}`` from one backend process: the shop's
``OrdersService`` contract with a canned order (5 priced lines with Money
amounts, a total, a status enum, two Timestamps; see :mod:`benchmarks._servers`),
on the mesh runtime and registered as ``orders`` in a local registry file.

- **gateway**: ``python -m gateway`` itself, one worker, finding orders
  through the registry with the mesh's discovery-backed channels (as under
  ``scripts/run``), verifying the bearer token every request carries (the
  route needs ``orders.read``; the verified-token cache at its default).
- **naive FastAPI**: what a person writes: a FastAPI route, a plain
  ``grpc.aio`` channel to the backend's address, ``json_format`` to JSON, run
  with the flags a person tuning it sets (uvloop, httptools).

Equal terms: both get services.yaml's gateway ``env`` (``GRPC_EXPERIMENTS``),
uvloop and httptools, no access log (the gateway's is off here; uvicorn's is
off on the naive one), no rate limit, no tracing. The one difference left
favours the naive proxy: it checks no token. Both answer the same JSON (checked
before measuring). "naive, defaults" (``uvicorn.run(app)``: uvicorn's access log
on, no gRPC env) is shown for information only.

CPU per request is the front process's user+system time (/proc/<pid>/stat)
over the measured window divided by the requests served.

1. **At equal request rates** (the ratio): ``hey`` sends a fixed rate (``-q``
   per worker times ``-c`` workers) to each front in turn, at 25, 45 and 65 % of
   the slower front's closed-loop throughput (or ``--rates``). At different
   rates the faster front would also batch more, which is not what is compared.
2. **Closed loop** (second section): ``wrk`` with 32 keep-alive connections,
   each sending again at once: throughput and latency at saturation.

Fronts alternate within every round, since 2 shared cores drift by about 5%.
The last line is ``ratio: X.XX`` = naive CPU per request / gateway CPU per
request at equal rate, the mean of the per-rate ratios. ``--quick`` (one
round of 2 s, one rate, no tracing or token-verify rows) checks that it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._auth import (
    DEFAULT_CACHE_SIZE,
    bench_token,
    check_verified,
    gateway_auth_env,
    jwks_process,
    verify_cost,
)
from benchmarks._servers import ORDER_ID
from mesh.issuer import LocalIssuer

GATEWAY = "gateway"
NAIVE = "naive FastAPI"
NAIVE_DEFAULTS = "naive, defaults"
JWT_VERIFY = "gateway, no token cache"
PATH = f"/v1/orders/{ORDER_ID}"
CONNECTIONS = 32
RATE_SHARES = (0.25, 0.45, 0.65)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def gateway_env() -> dict[str, str]:
    """The gateway's environment from services.yaml (as scripts/run and ECS set it)."""
    from mesh.topology import load_topology

    return dict(load_topology()["gateway"].env)


def gateway_rows(
    grpc_env: dict[str, str], issuer: LocalIssuer, jwks_url: str, registry_file: Path
) -> dict[str, dict[str, str]]:
    """The environment of each ``python -m gateway`` row (its port is added at start)."""
    common = {
        **grpc_env,
        "MESH_GATEWAY_HOST": "127.0.0.1",
        "MESH_GATEWAY_WORKERS": "1",
        # One load generator is one rate-limit client: with the limit on, rows would count 429s.
        "MESH_GATEWAY_RATE_LIMIT_RPS": "0",
        # Equal terms: the naive proxy runs without uvicorn's access log.
        "MESH_GATEWAY_ACCESS_LOG": "false",
        "MESH_GATEWAY_LOG_LEVEL": "warning",
        "MESH_DATA_DIR": str(registry_file.parent),
        "MESH_REGISTRY": "local",
        "MESH_REGISTRY_FILE": str(registry_file),
        "MESH_TRACES_EXPORTER": "none",
    }
    return {
        GATEWAY: {**common, **gateway_auth_env(issuer, jwks_url, cache_size=DEFAULT_CACHE_SIZE)},
        JWT_VERIFY: {**common, **gateway_auth_env(issuer, jwks_url, cache_size=0)},
    }


@dataclass
class Front:
    """One HTTP front under test: how to start it and what each request carries."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def fronts(
    grpc_env: dict[str, str],
    issuer: LocalIssuer,
    jwks_url: str,
    registry_file: Path,
    backend_port: int,
) -> dict[str, Front]:
    """Every row's front, gateway first; the naive proxy gets the gateway's gRPC environment."""
    rows = gateway_rows(grpc_env, issuer, jwks_url, registry_file)
    result = {
        name: Front(name, [sys.executable, "-m", "gateway"], env) for name, env in rows.items()
    }
    naive = [sys.executable, "-m", "benchmarks._servers", "naive"]
    for front in result.values():
        front.env["MESH_GATEWAY_PORT"] = str(front.port)
    result[NAIVE] = Front(NAIVE, [*naive, "{port}", str(backend_port)], dict(grpc_env))
    result[NAIVE_DEFAULTS] = Front(
        NAIVE_DEFAULTS, [*naive, "{port}", str(backend_port), "defaults"], {}
    )
    return result


# The fronts' environments are exactly what a row names: nothing of the caller's gRPC or
# mesh settings leaks in (an exported GRPC_EXPERIMENTS would make "defaults" a lie).
def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MESH_", "GRPC_", "OTEL_"))}


@contextmanager
def running(front: Front) -> Iterator[Front]:
    argv = [a.replace("{port}", str(front.port)) for a in front.argv]
    front.proc = subprocess.Popen(
        argv,
        # Log lines are not measured; uvicorn's access lines on "defaults" still get formatted.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**_clean_environ(), **front.env},
    )
    try:
        wait_port(front.port, front.proc)
        yield front
    finally:
        front.proc.terminate()
        try:
            front.proc.wait(10)
        except subprocess.TimeoutExpired:
            front.proc.kill()


def fetch(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - the http URL of our own front
        url, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - our own front
        return int(reply.status), reply.read()


def wait_answer(front: Front, token: str, timeout: float = 90.0) -> object:
    """The front's answer once it has one (the gateway finds orders through the registry)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            status, body = fetch(front.url, token)
            if status == 200:
                return json.loads(body)
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{front.name}: no 200 from {front.url} (last: {last})")
        time.sleep(0.2)


# -- load generators -----------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, pid: int, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    """Closed loop: ``CONNECTIONS`` keep-alive connections, each sending again at once."""
    argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, int(seconds))}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    return parse_wrk(out, cpu)


def parse_wrk(out: str, cpu: float) -> dict[str, float]:
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise RuntimeError(f"failed requests under wrk\n{out}")

    def latency(q: str) -> float:
        found = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        if not found:
            raise RuntimeError(f"no {q}% latency in wrk's output\n{out}")
        return float(found.group(1)) * _UNITS[found.group(2)]

    return {
        "rps": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "cpu_ms": cpu / total * 1e3,
        "requests": total,
    }


def hey(
    url: str, pid: int, seconds: float, rate: float, headers: dict[str, str]
) -> dict[str, float]:
    """Open loop at ``rate`` requests/s: ``hey`` workers, each held to rate/workers."""
    argv = ["hey", "-z", f"{seconds:g}s", "-c", str(CONNECTIONS), "-q", f"{rate / CONNECTIONS:g}"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    return parse_hey(out, cpu)


def parse_hey(out: str, cpu: float) -> dict[str, float]:
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    if "Error distribution" in out or set(codes) != {200}:
        raise RuntimeError(f"failed requests under hey\n{out}")
    total = codes[200]

    def grab(pattern: str) -> float:
        found = re.search(pattern, out)
        if not found:
            raise RuntimeError(f"no {pattern!r} in hey's output\n{out}")
        return float(found.group(1))

    return {
        "rps": grab(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": grab(r"50% in ([\d.]+) secs") * 1e3,
        "p99_ms": grab(r"99% in ([\d.]+) secs") * 1e3,
        "cpu_ms": cpu / total * 1e3,
        "requests": total,
    }


def idle_cpu(pid: int, seconds: float) -> float:
    """Milliseconds of CPU per second the process spends with no requests."""
    cpu0 = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / seconds * 1e3


def combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one front: CPU over all requests, the other figures averaged."""
    requests = sum(r["requests"] for r in runs)
    merged = {k: sum(r[k] for r in runs) / len(runs) for k in ("rps", "p50_ms", "p99_ms")}
    merged["cpu_ms"] = sum(r["cpu_ms"] * r["requests"] for r in runs) / requests
    merged["requests"] = requests
    return merged


async def direct(port: int, seconds: float) -> dict[str, float]:
    """A grpc.aio client alone against the backend: the floor under both fronts."""
    import grpc

    from shop.orders.v1 import orders_pb2, orders_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        request = orders_pb2.GetOrderRequest(name=f"orders/{ORDER_ID}")
        await stub.GetOrder(request)
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                await stub.GetOrder(request, timeout=15)
                latencies.append(time.perf_counter() - t0)

        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        cpu, wall = cpu_seconds(os.getpid()) - cpu0, time.monotonic() - t0
    ordered = sorted(latencies)
    n = len(ordered)
    return {
        "rps": n / wall,
        "p50_ms": ordered[n // 2] * 1e3,
        "p99_ms": ordered[min(n - 1, int(0.99 * n))] * 1e3,
        "cpu_ms": cpu / n * 1e3,
        "requests": n,
    }


def routing(n: int, lookups: int = 20000) -> float:
    from dataclasses import dataclass

    from gateway.routes import Router
    from gateway.templates import Template, parse_template

    @dataclass(frozen=True)
    class Route:
        http_method: str
        template: Template
        rpc: str

    router = Router(
        Route("GET", parse_template(f"/v1/r{i}/{{name=items/*}}/sub{i}:go"), f"rpc{i}")
        for i in range(n)
    )
    path = f"/v1/r{n - 1}/items/x/sub{n - 1}:go"
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(lookups):
            router.match("GET", path)
        best = min(best, time.perf_counter() - t0)
    return best / lookups * 1e6


def table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':26} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
    for name, r in rows.items():
        print(
            f"{name:26} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['cpu_ms']:11.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/bench gateway", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="fronts alternate in each round")
    parser.add_argument(
        "--rates", default="", help="comma-separated requests/s (default: shares of saturation)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, one rate")
    opts = parser.parse_args()
    if opts.quick:
        opts.seconds, opts.rounds = 2.0, 1
    if not (1 <= opts.seconds <= 120 and 1 <= opts.rounds <= 10):
        parser.error("--seconds in [1, 120], --rounds in 1..10")
    fixed = [float(r) for r in opts.rates.split(",") if r.strip()]
    if any(not 0 < r <= 100_000 for r in fixed):
        parser.error("--rates: each in (0, 100000]")
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    issuer = LocalIssuer.load_or_create(tmp / "issuer")
    token = bench_token(issuer)
    bearer = {"Authorization": f"Bearer {token}"}
    registry_file = tmp / "registry.json"
    backend_port = free_port()
    grpc_env = gateway_env()
    with ExitStack() as stack:
        jwks_url = stack.enter_context(jwks_process(tmp / "issuer"))
        stack.enter_context(
            running(
                Front(
                    "backend",
                    [
                        sys.executable,
                        "-m",
                        "benchmarks._servers",
                        "backend",
                        "{port}",
                        str(registry_file),
                    ],
                    {},
                    backend_port,
                )
            )
        )
        every = fronts(grpc_env, issuer, jwks_url, registry_file, backend_port)
        if opts.quick:
            del every[JWT_VERIFY]
        for front in every.values():
            stack.enter_context(running(front))
        answers = {name: wait_answer(front, token) for name, front in every.items()}
        if any(answer != answers[GATEWAY] for answer in answers.values()):
            raise RuntimeError(f"the fronts answer differently: {answers}")
        for name in (GATEWAY, JWT_VERIFY):
            if name in every:
                check_verified(every[name].url, token)
        for front in every.values():  # warm-up: channels, caches, first paths
            wrk(front.url, front.pid, 1, bearer)
        direct_row = None if opts.quick else asyncio.run(direct(backend_port, opts.seconds))

        closed: dict[str, list[dict[str, float]]] = {name: [] for name in every}
        for i in range(opts.rounds):
            names = list(every) if i % 2 == 0 else list(reversed(every))
            for name in names:
                closed[name].append(wrk(every[name].url, every[name].pid, opts.seconds, bearer))
        saturation = min(combine(closed[n])["rps"] for n in (GATEWAY, NAIVE))
        shares = (0.45,) if opts.quick else RATE_SHARES
        rates = fixed or [max(50.0, round(saturation * s / 50) * 50) for s in shares]

        pair = (GATEWAY, NAIVE)
        # What a front spends with no traffic (the gateway polls the registry and
        # health-checks its backends): part of CPU per request, more so at low rates.
        idle = {name: idle_cpu(every[name].pid, min(opts.seconds, 3.0)) for name in pair}
        fixed_runs: dict[float, dict[str, list[dict[str, float]]]] = {
            rate: {name: [] for name in pair} for rate in rates
        }
        for i in range(opts.rounds):
            for rate in rates:
                for name in pair if i % 2 == 0 else reversed(pair):
                    front = every[name]
                    fixed_runs[rate][name].append(
                        hey(front.url, front.pid, opts.seconds, rate, bearer)
                    )
        report_tracing: Callable[[], None] | None = None
        if not opts.quick:
            report_tracing = tracing_rows(every[GATEWAY], opts, bearer, stack)

    print(f"GET {PATH} (GetOrder: 5 lines, Money, Timestamps), bearer token on every request")
    ratios: list[float] = []
    for rate in rates:
        rows = {name: combine(fixed_runs[rate][name]) for name in pair}
        per_round = [
            n["cpu_ms"] / g["cpu_ms"]
            for g, n in zip(fixed_runs[rate][GATEWAY], fixed_runs[rate][NAIVE], strict=True)
        ]
        ratio = rows[NAIVE]["cpu_ms"] / rows[GATEWAY]["cpu_ms"]
        ratios.append(ratio)
        table(f"at {rate:g} requests/s (hey, {CONNECTIONS} workers, open loop)", rows)
        print(
            f"naive/gateway CPU per request: {ratio:.2f}"
            " (per round " + ", ".join(f"{r:.2f}" for r in per_round) + ")"
        )
    closed_rows: dict[str, dict[str, float]] = {}
    if direct_row is not None:
        closed_rows["direct grpc.aio"] = direct_row
    closed_rows.update({name: combine(runs) for name, runs in closed.items()})
    table(f"closed loop (wrk, {CONNECTIONS} connections)", closed_rows)
    per_round = [
        n["cpu_ms"] / g["cpu_ms"] for g, n in zip(closed[GATEWAY], closed[NAIVE], strict=True)
    ]
    share = closed_rows[GATEWAY]["rps"] / closed_rows[NAIVE]["rps"]
    print(
        f"closed loop: naive/gateway CPU per request"
        f" {closed_rows[NAIVE]['cpu_ms'] / closed_rows[GATEWAY]['cpu_ms']:.2f}"
        " (per round " + ", ".join(f"{r:.2f}" for r in per_round) + "),"
        f" throughput gateway/naive {share:.2f}"
    )
    print(
        "idle CPU, ms per second: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in idle.items())
        + " (included in CPU per request above)"
    )
    print(f"gRPC env of both fronts (services.yaml's gateway env): {grpc_env or 'none'}")
    print(
        f"'{NAIVE_DEFAULTS}': uvicorn.run(app) (its access log on, no gRPC env), for information;"
        f" token cache {DEFAULT_CACHE_SIZE} (default) on '{GATEWAY}', 0 on '{JWT_VERIFY}'"
    )
    if JWT_VERIFY in closed_rows:
        extra = (closed_rows[JWT_VERIFY]["cpu_ms"] - closed_rows[GATEWAY]["cpu_ms"]) * 1e3
        hit, check = verify_cost(issuer)
        print(
            f"an RS256 check on every request adds {extra:+.0f} us of gateway CPU;"
            f" Verifier.verify in-process: cache hit {hit:.2f} us, signature check {check:.1f} us"
        )
    small, large = routing(10), routing(1000)
    print(f"route match: 10 routes {small:.2f} us, 1000 routes {large:.2f} us")
    if report_tracing is not None:
        report_tracing()
    print(
        "ratio at equal rate, mean over "
        + ", ".join(f"{r:g}" for r in rates)
        + " requests/s: "
        + ", ".join(f"{r:.2f}" for r in ratios)
    )
    print(f"ratio: {sum(ratios) / len(ratios):.2f}")


def tracing_rows(
    gateway: Front, opts: argparse.Namespace, headers: dict[str, str], stack: ExitStack
) -> Callable[[], None]:
    """Gateway CPU per request under wrk with tracing off, 10 % and 100 % sampled
    (benchmarks.tracing); measured now, returns what prints the figures."""
    from benchmarks.tracing import MODES, report, sink, tracing_env

    sink_port = free_port()
    stack.enter_context(sink(sink_port))
    traced = {}
    for label, ratio in MODES.items():
        front = Front(f"gateway, tracing {label}", gateway.argv, {})
        front.env = {**gateway.env, **tracing_env(ratio, sink_port)}
        front.env["MESH_GATEWAY_PORT"] = str(front.port)
        traced[label] = stack.enter_context(running(front))
    token = headers["Authorization"].removeprefix("Bearer ")
    for front in traced.values():
        wait_answer(front, token)
        wrk(front.url, front.pid, 1, headers)
    best: dict[str, float] = {}
    for _ in range(opts.rounds):  # modes alternate, the best of each is kept
        for label, front in traced.items():
            result = wrk(front.url, front.pid, opts.seconds, headers)
            best[label] = min(best.get(label, float("inf")), result["cpu_ms"])
    return lambda: report(
        best.__getitem__, "tracing: gateway CPU per request under wrk, exported over OTLP/HTTP"
    )


if __name__ == "__main__":
    main()
