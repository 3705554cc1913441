"""``scripts/bench orders``: what a REST order costs through the whole mesh, and the tax.

The mesh runs as scripts/run runs it (``python -m mesh.runner``: replicas from
services.yaml, access logs on, the local issuer's tokens) on PostgreSQL, in
databases of its own made for this run and dropped after (``--postgres``).
The gateway's per-client rate limit is off (the load generator is one client
making the load of many), and so is tracing (scripts/run's file exporter; the
monolith has no tracer, and ``benchmarks.tracing`` measures what spans cost). The baseline, in the same run, is the same
operations in one process (:mod:`benchmarks._monolith`: the services' own
servicers and stores behind one Starlette app, on the same databases, with the
same token check, JSON code and access log, and no gRPC hop).

Operations, each through the REST front with a customer's bearer token:
CreateOrder with 1, 5 and 20 lines (distinct skus of 1,000; 200 with --quick), GetOrder of an
order the customer owns, ListProducts. CPU per request is the user + system
time of every process of a side over a measured window, divided by the answers
in that window; per process too (replicas summed, ``catalog x2``). The mesh's
side is every process the runner starts (carts, idle here, included).

1. Closed loop (``--concurrency`` connections back to back): throughput at
   saturation, p50/p99 and CPU per request for each operation.
2. Open loop at fixed rates, the same rate for both sides: CreateOrder(5) at
   25, 50, 70 and 90 % of the mesh's closed-loop throughput (the latency
   sweep), then 1, 5 and 20 lines at 70 % of the slower side's throughput, a
   rate both keep up with (the tax). Latency counts from when a request was due.

Sides alternate inside every step, and ``--rounds`` repeat the whole sequence,
since 2 shared cores drift; figures are medians over rounds, ratios carry their
spread (min-max). The microservices tax is CPU per order, mesh over monolith, at
an equal rate (70 % of the slower side's saturation): the geometric mean of the
1, 5 and 20-line ratios is the last line, ``ratio: X.XX`` (target <= 2.0). The
latency target is p99 <= 50 ms at 70 % of the mesh's saturation.

``--profile DIR`` then samples every process with py-spy (the ``bench`` extra)
during a closed-loop CreateOrder(5) step and prints each one's top 5 functions
by own time; the flame data stays in DIR.

    python -m benchmarks.orders [--quick] [--rounds 2] [--duration 4] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks._auth import jwks_process
from benchmarks._load import Request, Tally, closed_loop, open_loop
from benchmarks.chaos import Mesh, _name, _say
from benchmarks.gateway import cpu_seconds, free_port, wait_port
from mesh.issuer import LocalIssuer, local_auth_env

ROOT = Path(__file__).resolve().parents[1]
# Enough products that concurrent orders seldom wait on each other's stock rows:
# with a hundred, 16 orders of 20 lines queued on row locks, and a side starved of
# CPU held them longer (a lock convoy measured instead of CPU).
SKUS = [f"sku-{i:04d}" for i in range(1000)]
QUICK_SKUS = 200
SEEDERS = 16
STOCK = 1_000_000_000
CUSTOMERS = 16
SIZES = (1, 5, 20)
OPEN_FRACTIONS = (0.25, 0.5, 0.7, 0.9)
EQUAL_FRACTION = 0.7
P99_TARGET_MS = 50.0
SIDES = ("mesh", "monolith")
STORED = ("catalog", "inventory", "orders")
TOKEN_TTL = 6 * 3600.0


# ---------------------------------------------------------------- the databases


def database_urls(base: str, run: str) -> dict[str, str]:
    """A fresh PostgreSQL database per stored service for this run."""
    url = make_url(base)
    return {
        name: url.set(database=f"bench_orders_{run}_{name}").render_as_string(hide_password=False)
        for name in STORED
    }


async def drop_databases(urls: dict[str, str]) -> None:
    names = [make_url(url).database for url in urls.values()]
    for name in names:
        # Only what database_urls made: this drops with FORCE.
        if name is None or not re.fullmatch(r"bench_orders_[0-9a-f]{8}_[a-z]+", name):
            raise ValueError(f"not a benchmark database: {name!r}")
    first = make_url(next(iter(urls.values())))
    admin = create_async_engine(first.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


# ---------------------------------------------------------------- the two sides


@dataclass
class Side:
    name: str
    port: int
    pids: Callable[[], dict[int, str]]  # pid -> process name

    def cpu(self) -> dict[int, float]:
        found = {}
        for pid in self.pids():
            with suppress(OSError):
                found[pid] = cpu_seconds(pid)
        return found


def mesh_processes(mesh: Mesh) -> dict[int, str]:
    names = {}
    for pid in mesh.pids():
        with suppress(OSError):
            name = _name(pid)
            names[pid] = name.removeprefix("services.")
    return names


@contextmanager
def monolith(urls: dict[str, str], data: Path, out: Path) -> Iterator[Side]:
    issuer = LocalIssuer.load_or_create(data)
    with jwks_process(data) as jwks_url:
        port = free_port()
        env = {
            **os.environ,
            **local_auth_env(issuer, jwks_url),
            **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
        }
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks._monolith", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        try:
            wait_port(port, proc, timeout=60)
            yield Side("monolith", port, lambda: {proc.pid: "monolith"})
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- the shop's requests


@dataclass
class Shop:
    tokens: list[str]
    skus: list[str]
    orders: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def of(cls, issuer: LocalIssuer, skus: list[str]) -> Shop:
        return cls(
            [
                issuer.mint(f"bench-{i}", ["orders.read", "orders.write"], ttl=TOKEN_TTL)
                for i in range(CUSTOMERS)
            ],
            skus,
        )

    def _raw(self, method: str, path: str, customer: int, body: bytes = b"") -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.tokens[customer]}\r\n"
        )
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    def create(self, size: int) -> Callable[[], Request]:
        def make() -> Request:
            customer = self.rng.randrange(CUSTOMERS)
            lines = [{"sku": s, "quantity": 1} for s in sorted(self.rng.sample(self.skus, size))]
            body = json.dumps({"requestId": f"bench-{uuid.uuid4().hex}", "lines": lines})

            def keep(reply: bytes) -> None:
                mine = self.orders[customer]
                if len(mine) < 1000:
                    mine.append(json.loads(reply)["name"])

            return self._raw("POST", "/v1/orders", customer, body.encode()), keep

        return make

    def get(self) -> Request:
        customer = self.rng.choice([c for c, names in self.orders.items() if names])
        name = self.rng.choice(self.orders[customer])
        return self._raw("GET", f"/v1/{name}", customer), None

    def products(self) -> Request:
        return self._raw("GET", "/v1/products", self.rng.randrange(CUSTOMERS)), None

    def operations(self) -> dict[str, Callable[[], Request]]:
        ops = {f"create-{n}": self.create(n) for n in SIZES}
        ops["get-order"] = self.get
        ops["list-products"] = self.products
        return ops


async def seed(base: str, admin: str, skus: list[str]) -> None:
    auth = {"Authorization": f"Bearer {admin}"}
    todo = iter(enumerate(skus))

    async def seeder(http: httpx.AsyncClient) -> None:
        for i, sku in todo:
            product = {
                "sku": sku,
                "displayName": f"Product {i}",
                "price": {"currencyCode": "EUR", "amountMinor": 100 + i},
                "active": True,
            }
            reply = await http.post(f"{base}/v1/products", json=product, headers=auth)
            reply.raise_for_status()
            reply = await http.put(f"{base}/v1/stocks/{sku}", json={"onHand": STOCK}, headers=auth)
            reply.raise_for_status()

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(seeder(http) for _ in range(SEEDERS)))


# ---------------------------------------------------------------- measuring


@dataclass
class Measure:
    """One side, one operation, one shape: answers and CPU in the window."""

    tally: Tally
    cpu: dict[str, float]  # process name -> CPU seconds in the window
    count: Counter[str]  # process name -> processes

    @property
    def cpu_ms(self) -> float:
        return sum(self.cpu.values()) * 1000 / max(self.tally.served, 1)

    def per_process_ms(self) -> dict[str, float]:
        return {n: s * 1000 / max(self.tally.served, 1) for n, s in self.cpu.items()}


async def measure(
    side: Side,
    make: Callable[[], Request],
    *,
    rate: float | None,
    concurrency: int,
    warm_up: float,
    duration: float,
) -> Measure:
    names = side.pids()
    marks: list[dict[int, float]] = []

    def mark() -> None:
        marks.append(side.cpu())

    if rate is None:
        tally = await closed_loop(
            side.port,
            make,
            concurrency=concurrency,
            warm_up=warm_up,
            duration=duration,
            on_window=mark,
        )
    else:
        tally = await open_loop(
            side.port, make, rate=rate, warm_up=warm_up, duration=duration, on_window=mark
        )
    before, after = marks
    cpu: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    for pid, name in names.items():
        if pid in before and pid in after:
            cpu[name] += after[pid] - before[pid]
            count[name] += 1
    return Measure(tally, dict(cpu), count)


@dataclass
class Results:
    """Every round's measure of (shape, operation, side)."""

    rows: dict[tuple[str, str, str], list[Measure]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, key: tuple[str, str, str], m: Measure) -> None:
        self.rows[key].append(m)

    def median(self, key: tuple[str, str, str], of: Callable[[Measure], float]) -> float:
        return statistics.median(of(m) for m in self.rows[key])

    def ratios(self, shape: str, op: str) -> list[float]:
        mesh, mono = self.rows[shape, op, "mesh"], self.rows[shape, op, "monolith"]
        return [
            a.cpu_ms / b.cpu_ms
            for a, b in zip(mesh, mono, strict=True)
            if a.tally.served and b.tally.served and a.cpu_ms and b.cpu_ms
        ]

    def errors(self, side: str) -> int:
        return sum(m.tally.errors for key, ms in self.rows.items() if key[2] == side for m in ms)

    def served(self, side: str) -> int:
        return sum(m.tally.served for key, ms in self.rows.items() if key[2] == side for m in ms)


def _row(label: str, side: str, ms: list[Measure]) -> str:
    rate = statistics.median(m.tally.rate for m in ms)
    p50 = statistics.median(m.tally.percentile_ms(0.5) for m in ms)
    p99 = statistics.median(m.tally.percentile_ms(0.99) for m in ms)
    cpu = statistics.median(m.cpu_ms for m in ms)
    errors = sum(m.tally.errors for m in ms)
    return f"{label:<16} {side:<9} {rate:>8.1f} {p50:>8.1f} {p99:>8.1f} {cpu:>11.2f} {errors:>7}"


HEADER = f"{'':<16} {'side':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'errors':>7}"


def _processes(ms: list[Measure]) -> str:
    parts = []
    for name in sorted(ms[0].cpu, key=lambda n: -ms[0].cpu[n]):
        value = statistics.median(m.per_process_ms().get(name, 0.0) for m in ms)
        count = ms[0].count[name]
        parts.append(f"{name}{f' x{count}' if count > 1 else ''} {value:.2f}")
    return ", ".join(parts)


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"


# ---------------------------------------------------------------- profiling


def profile(sides: list[Side], out: Path, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy on every process of the sides, for ``seconds``; raw (collapsed) stacks."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for side in sides:
        for pid, name in side.pids().items():
            procs.append(
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(max(1, round(seconds))),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(out / f"{side.name}-{name}-{pid}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    return procs


# Frames py-spy reports for a thread that waits: an idle pool thread, a selector.
# (``Runner.run`` as a leaf is uvloop's C code at work, parsing and writing: a cost.)
_IDLE = ("Thread.run (", "_worker (concurrent/futures/thread.py", "select (")


def _idle(leaf: str) -> bool:
    return leaf.startswith(_IDLE) or "selectors.py" in leaf


def top_functions(collapsed: Path, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` functions with the most own samples (share of all samples)."""
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if _idle(leaf):
            continue
        own[leaf] += int(count)
        total += int(count)
    return [(name, c / total) for name, c in own.most_common(n)] if total else []


# ---------------------------------------------------------------- the run


async def bench(opts: argparse.Namespace, mesh: Mesh, mono: Side, shop: Shop) -> int:
    side_of = {
        "mesh": Side("mesh", int(mesh.base.rsplit(":", 1)[1]), lambda: mesh_processes(mesh)),
        "monolith": mono,
    }
    ops = shop.operations()
    results = Results()
    shape_args = {
        "concurrency": opts.concurrency,
        "warm_up": opts.warm_up,
        "duration": opts.duration,
    }

    async def step(shape: str, op: str, rate: float | None, round_: int) -> None:
        order = SIDES if round_ % 2 == 0 else SIDES[::-1]
        for name in order:
            m = await measure(side_of[name], ops[op], rate=rate, **shape_args)
            results.add((shape, op, name), m)

    # Pools fill, statements are prepared, lazy imports happen: not measured.
    _say(f"warming up both sides ({opts.warm_up_all:g} s per operation)")
    for op in ops:
        for name in SIDES:
            await measure(
                side_of[name],
                ops[op],
                rate=None,
                concurrency=opts.concurrency,
                warm_up=0.0,
                duration=opts.warm_up_all,
            )
    saturation: dict[str, float] = {}
    _say(
        f"closed loop: {opts.concurrency} connections, {opts.duration:g} s per step "
        f"after {opts.warm_up:g} s warm-up, {opts.rounds} round(s), sides alternating"
    )
    for round_ in range(opts.rounds):
        for op in ops:
            await step("closed", op, None, round_)
    _say(HEADER)
    for op in ops:
        for name in SIDES:
            _say(_row(op, name, results.rows["closed", op, name]))
        saturation[op] = results.median(("closed", op, "mesh"), lambda m: m.tally.rate)
    _say("CPU ms per request by process (closed loop, median):")
    for op in ops:
        for name in SIDES:
            _say(f"  {op:<14} {name:<9} {_processes(results.rows['closed', op, name])}")

    # The latency sweep: fractions of the mesh's saturation. The tax: each order size
    # at 70 % of the slower side's saturation, a rate both sides keep up with (a side
    # past its saturation queues, and its CPU per answer measures the queue too).
    fractions = (EQUAL_FRACTION,) if opts.quick else OPEN_FRACTIONS
    slower = {
        op: min(saturation[op], results.median(("closed", op, "monolith"), lambda m: m.tally.rate))
        for op in ops
    }
    plan = [(f"sweep {f:.2f}", "create-5", saturation["create-5"] * f) for f in fractions]
    plan += [("equal", f"create-{n}", slower[f"create-{n}"] * EQUAL_FRACTION) for n in SIZES]
    _say(f"open loop: fixed rates, the same for both sides ({opts.duration:g} s per step)")
    for round_ in range(opts.rounds):
        for shape, op, rate in plan:
            await step(shape, op, rate, round_)
    _say(HEADER)
    for shape, op, rate in plan:
        for name in SIDES:
            _say(_row(f"{op} @{rate:.1f}/s", name, results.rows[shape, op, name]))

    _say(
        f"CPU per order at an equal rate ({EQUAL_FRACTION:.0%} of the slower side's "
        "saturation), ms, median (ratio spread over rounds):"
    )
    per_size = []
    for n in SIZES:
        op = f"create-{n}"
        mesh_ms = results.median(("equal", op, "mesh"), lambda m: m.cpu_ms)
        mono_ms = results.median(("equal", op, "monolith"), lambda m: m.cpu_ms)
        ratios = results.ratios("equal", op)
        if not ratios:
            # Too short a window to see an answer or a CPU tick (--quick on a loaded
            # box): the closed loop's ratio stands in, and says so.
            ratios = results.ratios("closed", op)
            _say(f"  {n:>2} line(s): no answers at the equal rate; closed-loop ratio instead")
        per_size.append(statistics.median(ratios) if ratios else float("nan"))
        _say(
            f"  {n:>2} line(s)   mesh {mesh_ms:6.2f}   monolith {mono_ms:6.2f}   "
            f"ratio {per_size[-1]:.2f} ({_spread(ratios)})"
        )
        _say(f"     mesh by process: {_processes(results.rows['equal', op, 'mesh'])}")
    sweep = f"sweep {EQUAL_FRACTION:.2f}"
    p99 = results.median((sweep, "create-5", "mesh"), lambda m: m.tally.percentile_ms(0.99))
    _say(
        f"p99 of CreateOrder(5) at {EQUAL_FRACTION:.0%} of the mesh's saturation "
        f"({saturation['create-5'] * EQUAL_FRACTION:.1f}/s): {p99:.1f} ms "
        f"(target <= {P99_TARGET_MS:.0f} ms)"
    )

    if opts.profile is not None:
        seconds = max(opts.duration, 15.0)  # enough samples per process
        _say(f"profiling every process for {seconds:g} s of closed-loop create-5 ({opts.profile})")
        for name in SIDES:
            spies = profile([side_of[name]], opts.profile, seconds)
            await measure(
                side_of[name],
                ops["create-5"],
                rate=None,
                concurrency=opts.concurrency,
                warm_up=0.5,
                duration=seconds + 1,
            )
            for spy in spies:
                spy.wait(60)
        for collapsed in sorted(opts.profile.glob("*.txt")):
            _say(f"  {collapsed.stem}:")
            for function, share in top_functions(collapsed):
                _say(f"    {share:6.1%}  {function}")

    errors = {name: results.errors(name) for name in SIDES}
    served = {name: results.served(name) for name in SIDES}
    _say(
        f"answers: mesh {served['mesh']} ({errors['mesh']} errors), "
        f"monolith {served['monolith']} ({errors['monolith']} errors)"
    )
    known = [r for r in per_size if math.isfinite(r) and r > 0]
    tax = math.exp(statistics.fmean(math.log(r) for r in known)) if known else float("nan")
    _say(f"ratio: {tax:.2f}")
    return 0 if not any(errors.values()) and all(served.values()) and known else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench orders", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="short steps, one round, one open-loop rate"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured per step")
    parser.add_argument("--warm-up", type=float, default=0.5, help="seconds before each window")
    parser.add_argument(
        "--warm-up-all", type=float, default=3.0, help="seconds per operation before measuring"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections")
    parser.add_argument(
        "--postgres",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server (SQLAlchemy URL); the run makes and drops databases of its own",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy every process; stacks here"
    )
    opts = parser.parse_args(argv)
    if opts.quick:
        # Enough to see every operation served by both sides and the report whole
        # (the suite runs it); its figures are not worth quoting.
        opts.warm_up_all = min(opts.warm_up_all, 0.5)
        opts.rounds, opts.duration, opts.warm_up = (
            1,
            min(opts.duration, 1.0),
            min(opts.warm_up, 0.2),
        )
    if not 1 <= opts.rounds <= 20 or not 0.2 <= opts.duration <= 600 or not 0 <= opts.warm_up <= 60:
        parser.error("--rounds in 1..20, --duration in 0.2..600, --warm-up in 0..60 seconds")
    if not 1 <= opts.concurrency <= 256:
        parser.error("--concurrency in 1..256")
    try:
        backend = make_url(opts.postgres).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend != "postgresql":
        parser.error("--postgres must be a postgresql+asyncpg:// URL")
    run = uuid.uuid4().hex[:8]
    urls = database_urls(opts.postgres, run)
    with tempfile.TemporaryDirectory(prefix="mesh-bench-orders-") as tmp:
        data = Path(tmp) / "data"
        env = {f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}
        # Replicas from services.yaml, access logs on. Off: the rate limit, tracing
        # (scripts/run's file exporter) and the fulfilment workflow, which the monolith
        # has no counterpart of: both sides place orders confirmed at once.
        mesh = Mesh(
            data,
            args=(),
            env={
                **env,
                "MESH_GATEWAY_RATE_LIMIT_RPS": "0",
                "MESH_TRACES_EXPORTER": "none",
                "MESH_WORKFLOW": "off",
            },
        )
        _say(f"starting the mesh on PostgreSQL (databases bench_orders_{run}_*) in {tmp}")
        try:
            mesh.start()
            issuer = LocalIssuer.load_or_create(data)
            admin = issuer.mint("bench-admin", ["catalog.write", "inventory.write"], ttl=TOKEN_TTL)
            skus = SKUS[:QUICK_SKUS] if opts.quick else SKUS
            asyncio.run(seed(mesh.base, admin, skus))
            shop = Shop.of(issuer, skus)
            with monolith(urls, data, Path(tmp) / "monolith.out") as mono:
                code = asyncio.run(bench(opts, mesh, mono, shop))
        finally:
            mesh.stop()  # also when it did not finish starting
            asyncio.run(drop_databases(urls))
    return code


if __name__ == "__main__":
    sys.exit(main())
