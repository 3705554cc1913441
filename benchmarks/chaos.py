"""scripts/bench chaos: REST load through the gateway of a local mesh while its
replicas are killed, then the books are checked.

The mesh is ``python -m mesh.runner`` (what scripts/run starts) in a temporary
data dir, with orders at two replicas (``--replicas orders=2``) so that every
service the drill kills has a sibling. The gateway, the one front door, is not
killed. Its environment turns the gateway's per-client rate limit off
(``MESH_GATEWAY_RATE_LIMIT_RPS=0``: this is one client making the load of
many) and shortens the reservation TTL, the settle period and the payment
deadline so the books settle within seconds after the load.

Load: ``--concurrency`` workers, each a customer with its own token minted by
the mesh's local issuer, mixing CreateOrder (unique request ids; half of them
paid at once with a test card, the others left to expire), GetOrder of their
own orders and ListProducts. Every ``--interval`` seconds one replica of
catalog, inventory and orders in turn gets SIGTERM (first half of the drill)
or SIGKILL (second half). Printed: success rate and p99 per half, then the
books: every CreateOrder answered 2xx exists exactly once, every order reached
a final status (FULFILLED, EXPIRED, CANCELLED, FAILED: the workflow finished
it), nothing stays reserved, and for each sku the stock on hand plus what was
committed equals what was put in, and what was committed equals what the
fulfilled orders hold. Exit 0 only if the books are right and the targets
(100 % with SIGTERM, >= 99.9 % with SIGKILL) are met.

``--soak SECONDS`` instead runs a steady ``--rate`` of requests (each worker
on a fixed timetable) with no kills, samples the RSS and open file
descriptors of every process of the mesh, the runner included, and prints
their least-squares slopes (KiB/min, fds/min) after a warm-up (the first
minute, or tenth of the soak). A process that exits during the soak fails it.

The last line is ``ratio: X.XXXX``: successful requests over all requests.

    python -m benchmarks.chaos [--duration 60] [--interval 3] [--concurrency 8]
    python -m benchmarks.chaos --soak 600 [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks._load import percentile_ms
from mesh.issuer import LocalIssuer
from mesh.runner import free_offset
from mesh.topology import load_topology

ROOT = Path(__file__).resolve().parents[1]
INITIAL = {"mug": 1_000_000, "tea": 1_000_000}
VICTIMS = ("catalog", "inventory", "orders")
TEST_CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}
# Where an order's life ends; the books wait for every order to get there.
FINAL = ("FULFILLED", "EXPIRED", "CANCELLED", "FAILED")
DRILL_ENV = {
    "MESH_GATEWAY_RATE_LIMIT_RPS": "0",
    "MESH_RESERVATION_TTL_SECONDS": "10",
    "MESH_RESERVATION_SWEEP_SECONDS": "0.5",
    "MESH_ORDER_SETTLE_SECONDS": "1",
    "MESH_PAYMENT_DEADLINE_SECONDS": "15",
    "MESH_ACCESS_LOG": "false",
}


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Tally:
    codes: Counter[str] = field(default_factory=Counter)
    by_call: dict[str, list[float]] = field(default_factory=dict)  # call -> latencies

    def add(self, call: str, code: str, seconds: float) -> None:
        self.codes[code] += 1
        self.by_call.setdefault(call, []).append(seconds)

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.codes.items() if code.startswith("2"))

    def p99_ms(self) -> float:
        return percentile_ms([s for seconds in self.by_call.values() for s in seconds], 0.99)

    def calls(self) -> str:
        """p50/p99 per call type: which call a tail belongs to."""
        return ", ".join(
            f"{call} n={len(seconds)} p50 {percentile_ms(seconds, 0.5):.1f} "
            f"p99 {percentile_ms(seconds, 0.99):.1f} ms"
            for call, seconds in sorted(self.by_call.items())
        )


def replicas(data: Path, service: str) -> list[int]:
    """Pids of the service's registered replicas (the local registry file)."""
    try:
        state = json.loads((data / "registry.json").read_text())
    except (OSError, ValueError):
        return []
    found = []
    for record in state.get("services", {}).get(service, {}).get("instances", {}).values():
        pid = record.get("attributes", {}).get("pid", record.get("pid"))
        if pid is not None:
            found.append(int(pid))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class Mesh:
    """The local mesh as scripts/run starts it, in its own data dir."""

    def __init__(
        self,
        data: Path,
        *,
        args: tuple[str, ...] = ("--replicas", "orders=2"),
        env: dict[str, str] | None = None,
    ) -> None:
        self.data = data
        self.args = args  # the runner's own, after its data dir and port offset
        self.env = DRILL_ENV if env is None else env
        self.offset = free_offset()
        self.out = data.parent / "runner.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{load_topology()['gateway'].port + self.offset}"

    def start(self) -> None:
        with self.out.open("wb") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mesh.runner",
                    "--data-dir",
                    str(self.data),
                    "--port-offset",
                    str(self.offset),
                    *self.args,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + 180
        while "Press Ctrl-C" not in self.out.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the mesh did not start:\n" + self.out.read_text()[-3000:])
            time.sleep(0.2)  # re-reading the runner's console for its ready line

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(120)

    def pids(self) -> list[int]:
        """The runner's children: every process of the mesh."""
        assert self.process is not None
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                children.append(int(entry.name))
        return children


class Shop:
    def __init__(self, mesh: Mesh, customers: int) -> None:
        issuer = LocalIssuer.load_or_create(mesh.data)
        self.admin = issuer.mint(
            "drill-admin", ["catalog.write", "inventory.write", "orders.admin"]
        )
        self.tokens = [
            issuer.mint(f"drill-{i}", ["orders.read", "orders.write"]) for i in range(customers)
        ]
        self.base = mesh.base

    async def seed(self, http: httpx.AsyncClient) -> None:
        auth = {"Authorization": f"Bearer {self.admin}"}
        for sku, on_hand in INITIAL.items():
            product = {
                "sku": sku,
                "displayName": sku.title(),
                "price": {"currencyCode": "EUR", "amountMinor": 100},
                "active": True,
            }
            reply = await http.post(f"{self.base}/v1/products", json=product, headers=auth)
            reply.raise_for_status()
            reply = await http.put(
                f"{self.base}/v1/stocks/{sku}", json={"onHand": on_hand}, headers=auth
            )
            reply.raise_for_status()


@dataclass
class Load:
    shop: Shop
    tally: Tally = field(default_factory=Tally)
    created: dict[str, str] = field(default_factory=dict)  # request_id -> order name
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, http: httpx.AsyncClient, token: str, pace: float = 0.0) -> None:
        """Requests back to back, or one every ``pace`` seconds on a fixed timetable."""
        auth = {"Authorization": f"Bearer {token}"}
        mine: list[str] = []
        rng = random.Random()
        due = time.monotonic() + rng.uniform(0, pace)  # workers spread over one period
        while not self.stop.is_set():
            if pace:
                # The soak's steady rate: the next request is due one period after the
                # last one was due, however long that one took (not synchronisation).
                if (wait := due - time.monotonic()) > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), timeout=wait)
                    if self.stop.is_set():
                        break
                due = max(due + pace, time.monotonic() - pace)
            roll = rng.random()
            started = time.perf_counter()
            request_id = ""
            call = "CreateOrder"
            try:
                if roll < 0.4 or not mine:
                    request_id = f"drill-{uuid.uuid4().hex}"
                    body = {
                        "requestId": request_id,
                        "lines": [{"sku": rng.choice(list(INITIAL)), "quantity": 1}],
                    }
                    reply = await http.post(f"{self.shop.base}/v1/orders", json=body, headers=auth)
                elif roll < 0.7:
                    call = "GetOrder"
                    reply = await http.get(f"{self.shop.base}/v1/{rng.choice(mine)}", headers=auth)
                else:
                    call = "ListProducts"
                    reply = await http.get(f"{self.shop.base}/v1/products")
                code = str(reply.status_code)
                if request_id and reply.status_code == 200:
                    name = reply.json()["name"]
                    self.created[request_id] = name
                    mine.append(name)
                    if rng.random() < 0.5:
                        # Paid at once (the sandbox's test card); the others expire.
                        self.tally.add(call, code, time.perf_counter() - started)
                        call, started = "ConfirmPayment", time.perf_counter()
                        reply = await http.post(
                            f"{self.shop.base}/v1/{name}:confirmPayment",
                            json={"card": TEST_CARD},
                            headers=auth,
                        )
                        code = str(reply.status_code)
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            self.tally.add(call, code, time.perf_counter() - started)


async def killer(mesh: Mesh, interval: float, signum: signal.Signals, stop: asyncio.Event) -> int:
    """Every ``interval`` seconds, one replica of each victim in turn gets ``signum``."""
    kills = 0
    turn = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            break
        except TimeoutError:
            pass
        service = VICTIMS[turn % len(VICTIMS)]
        turn += 1
        alive = [p for p in replicas(mesh.data, service) if _alive(p)]
        if not alive:
            continue
        victim = random.choice(alive)
        os.kill(victim, signum)
        kills += 1
        _say(f"  {signum.name} {service} (pid {victim})")
    return kills


def books(data: Path, created: dict[str, str]) -> list[str]:
    """What is wrong with the books (empty: they add up)."""
    problems = []
    with sqlite3.connect(data / "orders.db") as db:
        rows = db.execute("SELECT order_id, request_id, status FROM orders").fetchall()
        lines = db.execute(
            "SELECT o.status, l.sku, l.quantity FROM order_lines l JOIN orders o USING (order_id)"
        ).fetchall()
    per_request = Counter(r[1] for r in rows)
    names = {r[1]: f"orders/{r[0]}" for r in rows}
    for request_id, name in created.items():
        if per_request[request_id] != 1 or names.get(request_id) != name:
            problems.append(f"order {request_id} answered 2xx: found {per_request[request_id]}x")
    open_ = Counter(r[2] for r in rows if r[2] not in FINAL)
    if open_:
        problems.append(f"orders not final: {dict(open_)}")
    with sqlite3.connect(data / "inventory.db") as db:
        stock = {s: (h, r) for s, h, r in db.execute("SELECT sku, on_hand, reserved FROM stock")}
        committed = Counter[str]()
        for sku, quantity in db.execute(
            "SELECT l.sku, l.quantity FROM reservation_lines l "
            "JOIN reservations r USING (reservation_id) WHERE r.state = 'COMMITTED'"
        ):
            committed[sku] += quantity
    fulfilled = Counter[str]()
    for status, sku, quantity in lines:
        if status == "FULFILLED":
            fulfilled[sku] += quantity
    for sku, initial in INITIAL.items():
        on_hand, reserved = stock[sku]
        if reserved:
            problems.append(f"{sku}: {reserved} still reserved")
        if on_hand + committed[sku] != initial:
            problems.append(f"{sku}: on hand {on_hand} + committed {committed[sku]} != {initial}")
        if committed[sku] != fulfilled[sku]:
            problems.append(f"{sku}: committed {committed[sku]} != fulfilled {fulfilled[sku]}")
    return problems


async def settle(data: Path, created: dict[str, str], timeout: float) -> list[str]:
    """The books once pending orders settled and lapsed reservations went back."""
    deadline = time.monotonic() + timeout
    while True:
        problems = books(data, created)
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(0.5)  # re-reading the databases until they settle


async def drill(mesh: Mesh, opts: argparse.Namespace) -> tuple[int, int, bool]:
    shop = Shop(mesh, opts.concurrency)
    limits = httpx.Limits(max_connections=opts.concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await shop.seed(http)
        total = ok = 0
        created: dict[str, str] = {}
        targets = {signal.SIGTERM: 1.0, signal.SIGKILL: 0.999}
        met = True
        for signum, target in targets.items():
            load = Load(shop)
            workers = [asyncio.create_task(load.worker(http, t)) for t in shop.tokens]
            kills = asyncio.create_task(killer(mesh, opts.interval, signum, load.stop))
            await asyncio.sleep(opts.duration / 2)  # the drill's length
            load.stop.set()
            await asyncio.gather(*workers)
            killed = await kills
            tally = load.tally
            rate = tally.ok / tally.total if tally.total else 0.0
            met &= rate >= target
            _say(
                f"{signum.name}: {killed} kills, {tally.total} requests, success "
                f"{rate * 100:.3f} % (target {target * 100:.1f} %), p99 {tally.p99_ms():.1f} ms, "
                f"answers {dict(tally.codes)}"
            )
            _say(f"  by call: {tally.calls()}")
            total, ok = total + tally.total, ok + tally.ok
            created |= load.created
        # Unpaid orders expire at their deadline; a workflow whose compensation could
        # not reach orders is finished by orders' settler after the reservation margin.
        problems = await settle(mesh.data, created, timeout=150)
        _say(f"books: {len(created)} orders answered 2xx; " + ("; ".join(problems) or "all add up"))
        return total, ok, met and not problems


def _sample(pids: list[int]) -> dict[int, tuple[float, int]]:
    """pid -> (RSS KiB, open fds)."""
    found = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
            )
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            continue
        found[pid] = (float(rss), fds)
    return found


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope per minute of (seconds, value) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if var == 0 else 60 * sum((t - mx) * (v - my) for t, v in points) / var


WARM_UP = 60.0  # seconds of the soak left out of the slopes: pools, caches, lazy imports


def _name(pid: int) -> str:
    """``services.catalog`` for ``python -m services.catalog``, else the program's name."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if len(argv) > 2 and argv[1] == b"-m":
        return argv[2].decode()
    return Path(argv[0].decode()).name


async def soak(mesh: Mesh, opts: argparse.Namespace) -> tuple[int, int, bool]:
    """A steady ``--rate`` for ``--soak`` seconds; the RSS and fd slopes of every process."""
    assert mesh.process is not None
    shop = Shop(mesh, opts.concurrency)
    async with httpx.AsyncClient(timeout=30) as http:
        await shop.seed(http)
        load = Load(shop)
        pace = opts.concurrency / opts.rate
        names = {pid: _name(pid) for pid in mesh.pids()}
        names[mesh.process.pid] = "mesh.runner"
        series: dict[int, list[tuple[float, float, float]]] = {pid: [] for pid in names}
        period = min(10.0, opts.soak / 20)
        warm_up = min(WARM_UP, opts.soak / 10)
        _say(
            f"soak: {opts.rate:g} requests/s for {opts.soak:.0f}s, {len(names)} processes "
            f"sampled every {period:g}s; slopes leave out the first {warm_up:.0f}s"
        )
        workers = [asyncio.create_task(load.worker(http, t, pace)) for t in shop.tokens]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < opts.soak:
            for pid, (rss, fds) in _sample(list(names)).items():
                series[pid].append((elapsed, rss, fds))
            await asyncio.sleep(period)  # the sampling period, not synchronisation
        load.stop.set()
        await asyncio.gather(*workers)
        elapsed = time.monotonic() - started
        tally = load.tally
        _say(
            f"soak: {tally.total} requests in {elapsed:.0f}s ({tally.total / elapsed:.1f}/s), "
            f"success {tally.ok / max(tally.total, 1) * 100:.3f} %, p99 {tally.p99_ms():.1f} ms, "
            f"answers {dict(tally.codes)}"
        )
        _say(f"  by call: {tally.calls()}")
        lost = [names[pid] for pid in names if not _alive(pid)]
        if lost:
            _say(f"  processes that exited during the soak: {', '.join(lost)}")
        for pid, points in sorted(series.items(), key=lambda item: names[item[0]]):
            steady = [p for p in points if p[0] >= warm_up]
            if len(steady) < 2:
                continue
            rss_slope = _slope([(t, r) for t, r, _ in steady])
            fd_slope = _slope([(t, f) for t, _, f in steady])
            _say(
                f"  {names[pid]:<20} pid {pid:<7} RSS {points[0][1]:.0f} -> {steady[0][1]:.0f} "
                f"-> {points[-1][1]:.0f} KiB (slope {rss_slope:+.1f} KiB/min), fds "
                f"{points[0][2]:.0f} -> {steady[0][2]:.0f} -> {points[-1][2]:.0f} "
                f"(slope {fd_slope:+.2f}/min)"
            )
        problems = await settle(mesh.data, load.created, timeout=40)
        _say("books: " + ("; ".join(problems) or "all add up"))
        return tally.total, tally.ok, not problems and not lost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench chaos", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of load (half SIGTERM, half SIGKILL)"
    )
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent customers")
    parser.add_argument(
        "--soak", type=float, default=0.0, help="a soak of this many seconds instead"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="the soak's requests per second")
    opts = parser.parse_args(argv)
    if not 2 <= opts.duration <= 3600 or not 0.5 <= opts.interval <= 600:
        parser.error("--duration must be in 2..3600 and --interval in 0.5..600 seconds")
    if (
        not 1 <= opts.concurrency <= 256
        or not 0 <= opts.soak <= 86400
        or not 0 < opts.rate <= 10000
    ):
        parser.error("--concurrency in 1..256, --soak in 0..86400, --rate in (0, 10000]")
    with tempfile.TemporaryDirectory(prefix="mesh-chaos-") as tmp:
        mesh = Mesh(Path(tmp) / "data")
        _say(f"starting the mesh (orders x2, rate limit off) in {tmp}")
        mesh.start()
        try:
            run = soak if opts.soak else drill
            total, ok, passed = asyncio.run(run(mesh, opts))
        finally:
            exit_code = mesh.stop()
            runner_tail = mesh.out.read_text().splitlines()
            restarts = sum("(restarted)" in line for line in runner_tail)
            _say(f"runner: {restarts} restarts, exit {exit_code}")
    _say(f"ratio: {ok / total if total else 0.0:.4f}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
