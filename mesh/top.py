"""``scripts/top``: the running mesh at a glance, from each process's metrics endpoint.

    scripts/top              refresh every 2 s until Ctrl-C
    scripts/top --once       one table (rates since each process started)

One row per replica: health (SERVING, NOT_SERVING, or DOWN when its endpoint
does not answer), requests per second, p50 and p99 latency, error rate (server
faults: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, ... and HTTP 5xx) and calls
in flight, over the last interval. The endpoints come from
``<data dir>/metrics.json``, which ``scripts/run`` writes; ``--endpoint
label=URL`` adds others.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mesh.localobs import read_endpoints

__all__ = ["Sample", "Snapshot", "main", "quantile", "render", "scrape"]

SERVER_METRICS = ("mesh_rpc_server_duration_seconds", "mesh_http_server_duration_seconds")
IN_FLIGHT = ("mesh_rpc_server_in_flight", "mesh_http_server_in_flight")
# What counts as an error in the view: a failure of the server (what HTTP calls 5xx),
# not a caller's mistake (NOT_FOUND, INVALID_ARGUMENT, 4xx). The metrics keep every code.
SERVER_FAULTS = frozenset(
    {"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "DATA_LOSS", "UNIMPLEMENTED"}
)


@dataclass
class Sample:
    """What one scrape of one endpoint said (cumulative since the process started)."""

    at: float
    up: bool
    serving: bool = False
    requests: float = 0.0
    errors: float = 0.0
    in_flight: float = 0.0
    # Cumulative histogram buckets: upper bound -> count, over every method/route.
    buckets: dict[float, float] = field(default_factory=dict)


def parse(text: str, at: float) -> Sample:
    sample = Sample(at=at, up=True)
    for family in text_string_to_metric_families(text):
        if family.name == "mesh_serving":
            sample.serving = any(s.value >= 1 for s in family.samples)
        elif family.name in IN_FLIGHT:
            sample.in_flight += sum(s.value for s in family.samples)
        elif family.name in SERVER_METRICS:
            for s in family.samples:
                if s.name.endswith("_count"):
                    sample.requests += s.value
                    status = s.labels.get("code") or s.labels.get("status", "")
                    if status in SERVER_FAULTS or (status.isdigit() and int(status) >= 500):
                        sample.errors += s.value
                elif s.name.endswith("_bucket"):
                    bound = float(s.labels["le"])
                    sample.buckets[bound] = sample.buckets.get(bound, 0.0) + s.value
    return sample


def scrape(url: str, timeout: float = 1.0) -> Sample:
    now = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our loopback URLs
            text = response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return Sample(at=now, up=False)
    return parse(text, now)


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The q-quantile (seconds) from cumulative buckets, interpolated inside its bucket."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            inside = count - previous_count
            share = (rank - previous_count) / inside if inside > 0 else 1.0
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


@dataclass
class Snapshot:
    label: str
    health: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    error_rate: float
    in_flight: float


def compare(label: str, now: Sample, before: Sample | None) -> Snapshot:
    if not now.up:
        return Snapshot(label, "DOWN", 0.0, None, None, 0.0, 0.0)
    health = "SERVING" if now.serving else "NOT_SERVING"
    if before is None or not before.up or now.requests < before.requests:
        before = Sample(at=now.at, up=True)  # since the process started
        elapsed = None
    else:
        elapsed = max(now.at - before.at, 1e-6)
    requests = now.requests - before.requests
    errors = now.errors - before.errors
    buckets = {b: c - before.buckets.get(b, 0.0) for b, c in now.buckets.items()}
    p50, p99 = quantile(buckets, 0.5), quantile(buckets, 0.99)
    return Snapshot(
        label,
        health,
        requests / elapsed if elapsed else 0.0,
        p50 * 1000 if p50 is not None else None,
        p99 * 1000 if p99 is not None else None,
        errors / requests if requests else 0.0,
        now.in_flight,
    )


def render(rows: list[Snapshot], title: str) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        title,
        f"{'replica':<14}{'health':<13}{'rps':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'in flight':>11}",
    ]
    for row in rows:
        lines.append(
            f"{row.label:<14}{row.health:<13}{row.rps:>8.1f}{ms(row.p50_ms):>9}"
            f"{ms(row.p99_ms):>9}{row.error_rate:>7.1%} {row.in_flight:>10.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/top", description="A live view of the mesh.")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    parser.add_argument("--endpoint", action="append", default=[], help="label=URL (repeat)")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--once", action="store_true", help="print one table and exit")
    opts = parser.parse_args(argv)
    endpoints = read_endpoints(opts.data_dir)
    for item in opts.endpoint:
        label, _, url = item.partition("=")
        if not url:
            parser.error(f"--endpoint {item!r}: expected label=URL")
        endpoints[label] = url
    if not endpoints:
        print(
            f"no metrics endpoints in {opts.data_dir}/metrics.json: is scripts/run running?",
            file=sys.stderr,
        )
        return 1
    if opts.interval <= 0:
        parser.error("--interval must be positive")
    previous: dict[str, Sample] = {}
    with ThreadPoolExecutor(max_workers=min(16, len(endpoints))) as pool:
        try:
            while True:
                samples = dict(zip(endpoints, pool.map(scrape, endpoints.values()), strict=True))
                rows = [compare(label, s, previous.get(label)) for label, s in samples.items()]
                previous = samples
                when = time.strftime("%H:%M:%S")
                if opts.once:
                    print(render(rows, f"shop-mesh at {when} (since each process started)"))
                    return 0
                # Clear the screen and go home: a plain terminal is enough.
                sys.stdout.write("\x1b[2J\x1b[H")
                title = f"shop-mesh at {when}, last {opts.interval:g} s  (Ctrl-C to quit)"
                print(render(rows, title), flush=True)
                time.sleep(opts.interval)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
