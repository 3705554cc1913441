"""``scripts/bench gateway``: what the gateway costs per request, on loopback.

Against one echo backend process: (a) a direct grpc.aio client, (b) the
gateway under wrk keep-alive load, (c) a naive FastAPI proxy under the same
load. CPU per request is the front process's user+system time (from
/proc/<pid>/stat) over the measured window divided by the requests served.

The gateway runs as ``python -m gateway`` runs it (uvicorn options from
:func:`gateway.__main__.uvicorn_options`, environment from services.yaml), with
the rate limit off (one wrk client would measure 429s) and no tokens
(``MESH_GATEWAY_AUTH=none``); the naive proxy as one runs it by hand. Two more
gateway rows send a valid bearer token on every request, verified against the
local issuer's JWKS: with the verified-token cache (the default) and without it
(``MESH_GATEWAY_JWT_CACHE_SIZE=0``: an RS256 check per request). All rows post
the same body to ``/v1/echo``. The fronts alternate for ``--rounds`` rounds,
since 2 shared cores drift by about 5% between runs. A last control row runs
the naive proxy with the gateway's gRPC environment, to show how much of the
gap that environment alone explains; it is not part of the ratio.
Ends with ``ratio: X.XX`` = naive CPU per request / gateway (no token) CPU per request.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks._auth import (
    DEFAULT_CACHE_SIZE,
    bench_token,
    check_verified,
    gateway_auth_env,
    jwks_process,
    verify_cost,
)
from mesh.issuer import LocalIssuer

JWT_CACHED = "gateway + JWT cached"
JWT_VERIFY = "gateway + JWT verify"
PAYLOAD = {"name": "bench", "i32": 7, "tags": ["a", "b"], "color": "COLOR_RED"}
CONNECTIONS = 32
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
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
    grpc_env: dict[str, str], issuer: LocalIssuer, jwks_url: str
) -> dict[str, dict[str, str]]:
    """The environment of each gateway row: no token, then tokens with and without the cache."""
    # One wrk client is one rate-limit client: with the limit on, the rows would count 429s.
    unlimited = {**grpc_env, "MESH_GATEWAY_RATE_LIMIT_RPS": "0"}
    return {
        "gateway": {**unlimited, "MESH_GATEWAY_AUTH": "none"},
        JWT_CACHED: {
            **unlimited,
            **gateway_auth_env(issuer, jwks_url, cache_size=DEFAULT_CACHE_SIZE),
        },
        JWT_VERIFY: {**unlimited, **gateway_auth_env(issuer, jwks_url, cache_size=0)},
    }


@contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._servers", *args],
        # Access lines go to stderr (the one log stream of every process): not measured.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def direct(port: int, gen: Path, seconds: float) -> dict[str, float]:
    import grpc

    from tests.gateway_support.echo import compile_echo

    pb2, pb2_grpc = compile_echo(gen)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb2_grpc.EchoServiceStub(channel)
        request = pb2.EchoRequest(name="bench", i32=7, tags=["a", "b"], color=1)
        await stub.Echo(request)
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                await stub.Echo(request, timeout=15)
                latencies.append(time.perf_counter() - t0)

        cpu0, t0 = cpu_seconds(os.getpid()), time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        cpu, wall = cpu_seconds(os.getpid()) - cpu0, time.monotonic() - t0
    n = len(latencies)
    return {
        "rps": n / wall,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "cpu_ms": cpu / n * 1e3,
    }


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, pid: int, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\n')
        for name, value in {"Content-Type": "application/json", **headers}.items():
            script.write(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n")
        script.write(f"wrk.body = {json.dumps(json.dumps(PAYLOAD))}\n")
    # Warm-up: channels, caches and the JIT-less interpreter's first paths.
    subprocess.run(
        ["wrk", "-t1", "-c4", "-d2s", "-s", script.name, url], check=True, capture_output=True
    )
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            script.name,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu0
    os.unlink(script.name)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{out}")

    def latency(q: str) -> float:
        found = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        assert found, out
        return float(found.group(1)) * _UNITS[found.group(2)]

    return {
        "rps": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "cpu_ms": cpu / total * 1e3,
        "requests": total,
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


def combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one front: CPU over all requests, the other figures averaged."""
    requests = sum(r["requests"] for r in runs)
    merged = {k: sum(r[k] for r in runs) / len(runs) for k in ("rps", "p50_ms", "p99_ms")}
    merged["cpu_ms"] = sum(r["cpu_ms"] * r["requests"] for r in runs) / requests
    merged["requests"] = requests
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description="gateway benchmark")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each front, alternated (noise)"
    )
    parser.add_argument(
        "--backend-initial-metadata",
        action="store_true",
        help="the echo backend sends initial metadata in a frame of its own, ahead of "
        "each answer (the shop's services do not; off by default)",
    )
    opts = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    gen = Path(tempfile.mkdtemp(prefix="bench-echo-"))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-issuer-"))
    issuer = LocalIssuer.load_or_create(data_dir)
    token = bench_token(issuer)
    backend_port = free_port()
    env = gateway_env()
    bearer = {"Authorization": f"Bearer {token}"}
    results: dict[str, dict[str, float]] = {}
    backend_args = ["initial-metadata"] if opts.backend_initial_metadata else []
    with (
        jwks_process(data_dir) as jwks_url,
        process("backend", str(backend_port), str(gen), *backend_args) as backend,
    ):
        # name -> (role, environment, request headers)
        fronts: dict[str, tuple[str, dict[str, str] | None, dict[str, str]]] = {
            name: ("gateway", row_env, {} if name == "gateway" else bearer)
            for name, row_env in gateway_rows(env, issuer, jwks_url).items()
        }
        fronts["naive FastAPI"] = ("naive", None, {})
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in fronts}

        def measure(
            role: str, front_env: dict[str, str] | None, headers: dict[str, str]
        ) -> dict[str, float]:
            port = free_port()
            url = f"http://127.0.0.1:{port}/v1/echo"
            with process(role, str(port), str(backend_port), str(gen), env=front_env) as front:
                wait_port(port, front)
                if headers:
                    check_verified(url, json.dumps(PAYLOAD).encode(), token)
                return wrk(url, front.pid, opts.seconds, headers)

        wait_port(backend_port, backend)
        results["direct grpc.aio"] = asyncio.run(direct(backend_port, gen, opts.seconds))
        for _ in range(opts.rounds):
            for name, front in fronts.items():
                runs[name].append(measure(*front))
        # Not in the ratio: how much of the gap is the gateway's gRPC settings alone.
        control = measure("naive", env, {})
        # The cost of tracing, on the no-token gateway row (printed after the table).
        tracing = tracing_rows(
            lambda role, row_env: measure(role, row_env, {}),
            fronts["gateway"][1] or {},
            opts.rounds,
        )
    results.update({name: combine(r) for name, r in runs.items()})
    results["naive + gRPC env"] = control
    print(f"{'':22} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
    for name, r in results.items():
        print(
            f"{name:22} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['cpu_ms']:11.3f}"
        )
    print(f"gRPC env of the gateway (services.yaml): {env or 'none'}")
    print(
        "gateway rows: MESH_GATEWAY_RATE_LIMIT_RPS=0 (one wrk client would measure 429s);"
        " 'gateway' MESH_GATEWAY_AUTH=none, no token; the JWT rows send one valid RS256"
        " bearer token (2048-bit key) on every request, JWT cache"
        f" {DEFAULT_CACHE_SIZE} (default) or 0; all POST /v1/echo with the same body"
    )
    for name, label in ((JWT_CACHED, "cached token"), (JWT_VERIFY, "verified every request")):
        extra = [
            (j["cpu_ms"] - g["cpu_ms"]) * 1e3
            for g, j in zip(runs["gateway"], runs[name], strict=True)
        ]
        mean = (results[name]["cpu_ms"] - results["gateway"]["cpu_ms"]) * 1e3
        print(
            f"JWT CPU per request over no token, {label}: {mean:+.1f} us"
            " (per round " + ", ".join(f"{e:+.1f}" for e in extra) + ")"
        )
    hit, check = verify_cost(issuer)
    print(f"Verifier.verify in-process: cache hit {hit:.2f} us, signature check {check:.1f} us")
    per_round = [
        n["cpu_ms"] / g["cpu_ms"]
        for g, n in zip(runs["gateway"], runs["naive FastAPI"], strict=True)
    ]
    print("ratio per round: " + ", ".join(f"{r:.2f}" for r in per_round))
    small, large = routing(10), routing(1000)
    print(f"route match: 10 routes {small:.2f} us, 1000 routes {large:.2f} us")
    ratio = results["naive FastAPI"]["cpu_ms"] / results["gateway"]["cpu_ms"]
    share = results["gateway"]["rps"] / results["naive FastAPI"]["rps"]
    print(f"throughput gateway/naive: {share:.2f}")
    tracing()
    print(f"ratio: {ratio:.2f}")


def tracing_rows(
    measure: Callable[[str, dict[str, str] | None], dict[str, float]],
    env: dict[str, str],
    rounds: int,
) -> Callable[[], None]:
    """Gateway CPU per request with tracing off, 10 % and 100 % sampled (benchmarks.tracing);
    measured now, against the running backend; returns what prints the figures."""
    from benchmarks.tracing import MODES, report, sink, tracing_env

    sink_port = free_port()
    best: dict[str, float] = {}
    with sink(sink_port):
        for _ in range(rounds):  # modes alternate, the best of each is kept
            for label, ratio in MODES.items():
                result = measure("gateway", {**env, **tracing_env(ratio, sink_port)})
                best[label] = min(best.get(label, float("inf")), result["cpu_ms"])
    return lambda: report(
        best.__getitem__, "tracing: gateway CPU per request under wrk, exported over OTLP/HTTP"
    )


if __name__ == "__main__":
    main()
