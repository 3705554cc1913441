"""Many discovery clients against Cloud Map's per-account quota, simulated in one process.

    python -m benchmarks.discovery [--seconds 20] [--scale 100]

Every process of an AWS account that watches a service calls
DiscoverInstancesRevision once per poll (1 s) and DiscoverInstances once per full
refresh (15 s) and on each change. The account shares 3,000 revision calls and
1,000 discover calls a second, so the ceiling is about 3,000 watched services
per second of poll interval: 1,000 processes watching 3 services each. This runs
real :class:`~mesh.discovery.EndpointWatcher` s, at the real intervals, against
a registry that enforces the quota scaled down by ``--scale`` (so 30 clients
here stand for 3,000), below, at and past the ceiling. It prints how many calls
were refused, how far the watchers stretched their interval, whether any lost
its endpoints, and how long a newly registered instance took to reach all of
them. The last line is the share of revision calls refused at four times the
ceiling (lower is better; a client that ignored throttling would see 0.75).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

from mesh.discovery import AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, EndpointWatcher, MemoryRegistry
from tests.support.quota import QuotaRegistry

REVISION_QUOTA = 3000.0  # DiscoverInstancesRevision per second, per account and Region
DISCOVER_QUOTA = 1000.0  # DiscoverInstances per second (burst 2,000)
POLL, FULL_REFRESH = 1.0, 15.0


def ceiling(services_per_process: int, poll: float = POLL) -> int:
    """Client processes an account can run before the revision quota binds."""
    return int(REVISION_QUOTA * poll / services_per_process)


async def scenario(clients: int, scale: float, seconds: float) -> dict[str, float]:
    memory = MemoryRegistry(["catalog"])
    for port in (50051, 50061):
        await memory.register(
            "catalog", f"c{port}", {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(port)}
        )
    quota = QuotaRegistry(
        memory, revision_rate=REVISION_QUOTA / scale, discover_rate=DISCOVER_QUOTA / scale
    )
    watchers = [
        EndpointWatcher(
            quota,
            "catalog",
            poll_interval=POLL,
            full_refresh_interval=FULL_REFRESH,
            backoff_max=15.0,
        )
        for _ in range(clients)
    ]
    for watcher in watchers:
        watcher.start()
    lost = 0
    try:
        started = time.monotonic()
        while time.monotonic() - started < seconds / 2:
            await asyncio.sleep(0.1)
            lost += sum(1 for w in watchers if w.ready and len(w.endpoints) < 2)
        # A new replica registers: how long until every client routes to it?
        await memory.register(
            "catalog", "c50071", {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: "50071"}
        )
        added = time.monotonic()
        seen_by_all = float("nan")
        # Measured to the end of the row, and past it (up to three rows' time) if need be.
        while time.monotonic() - started < seconds or (
            seen_by_all != seen_by_all and time.monotonic() - started < 3 * seconds
        ):
            await asyncio.sleep(0.1)
            lost += sum(1 for w in watchers if w.ready and len(w.endpoints) < 2)
            if seen_by_all != seen_by_all and all(len(w.endpoints) == 3 for w in watchers):
                seen_by_all = time.monotonic() - added
        elapsed = time.monotonic() - started
    finally:
        for watcher in watchers:
            await watcher.stop()
    revisions = quota.calls["revision"]
    return {
        "offered": revisions / elapsed * scale,
        "accepted": (revisions - quota.calls["revision_throttled"]) / elapsed * scale,
        "refused": quota.calls["revision_throttled"] / max(1, revisions),
        "interval": statistics.mean(w.interval for w in watchers),
        "lost": float(lost),
        "propagation": seen_by_all,
    }


async def run(seconds: float, scale: float) -> float:
    at_ceiling = int(REVISION_QUOTA / scale)
    print(
        f"Cloud Map quota: DiscoverInstancesRevision {REVISION_QUOTA:,.0f}/s, DiscoverInstances "
        f"{DISCOVER_QUOTA:,.0f}/s per account and Region; poll {POLL:g} s, full refresh "
        f"{FULL_REFRESH:g} s."
    )
    print(
        f"Ceiling: {ceiling(1):,} client processes watching 1 service, {ceiling(3):,} watching 3 "
        f"(the gateway and orders watch 3 and 2). Simulated at 1/{scale:g} scale, "
        f"{seconds:g} s per row."
    )
    print(
        f"{'load':>6} {'clients':>8} {'offered/s':>10} {'accepted/s':>11} {'refused':>8} "
        f"{'interval s':>10} {'lost':>5} {'new replica seen by all':>24}"
    )
    refused = 0.0
    for load in (0.5, 1.0, 2.0, 4.0):
        clients = max(1, round(at_ceiling * load))
        row = await scenario(clients, scale, seconds)
        print(
            f"{load:>5.1f}x {clients * scale:>8,.0f} {row['offered']:>10,.0f} "
            f"{row['accepted']:>11,.0f} {row['refused']:>8.1%} {row['interval']:>10.2f} "
            f"{row['lost']:>5.0f} {row['propagation']:>22.1f} s"
        )
        refused = row["refused"]
    return refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per row (default 20)")
    parser.add_argument("--scale", type=float, default=100.0, help="quota divisor (default 100)")
    opts = parser.parse_args()
    if not 4 <= opts.seconds <= 600 or not 1 <= opts.scale <= 3000:
        parser.error("--seconds in 4..600 and --scale in 1..3000")
    # Thousands of "throttled" warnings are the point of the exercise, not news.
    logging.getLogger("mesh.discovery").setLevel(logging.ERROR)
    refused = asyncio.run(run(opts.seconds, opts.scale))
    print(f"ratio: {refused:.2f}")


if __name__ == "__main__":
    main()
