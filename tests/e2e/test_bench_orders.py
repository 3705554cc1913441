"""The quick mode of scripts/bench orders: the whole mesh and the monolith baseline on
PostgreSQL, every operation served by both without an error, and the report's shape."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import ADMIN_URL, create_database, drop_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ("create-1", "create-5", "create-20", "get-order", "list-products")


def _reachable() -> None:
    probe = create_database()
    if probe is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    drop_database(probe)


@pytest.mark.timeout(300)
def test_the_quick_benchmark_serves_both_sides_and_prints_the_tax() -> None:
    _reachable()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.orders", "--quick", "--postgres", ADMIN_URL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    lines = out.strip().splitlines()
    rows = {tuple(line.split()[:2]) for line in lines if line.split()[:1] != []}
    for op in OPERATIONS:
        assert (op, "mesh") in rows and (op, "monolith") in rows, out
    answers = next(line for line in lines if line.startswith("answers:"))
    found = re.fullmatch(
        r"answers: mesh (\d+) \((\d+) errors\), monolith (\d+) \((\d+) errors\)", answers
    )
    assert found is not None, answers
    mesh, mesh_errors, mono, mono_errors = map(int, found.groups())
    assert mesh > 0 and mono > 0 and mesh_errors == 0 and mono_errors == 0, out
    for size in (1, 5, 20):
        assert re.search(
            rf"^ +{size} line\(s\) +mesh +[\d.]+ +monolith +[\d.]+ +ratio ", out, re.M
        ), out
    assert re.search(
        r"^p99 of CreateOrder\(5\) at 70% .*: [\d.]+ ms \(target <= 50 ms\)$", out, re.M
    )
    last = re.fullmatch(r"ratio: (\d+\.\d\d)", lines[-1])
    assert last is not None, lines[-1]
    assert math.isfinite(float(last.group(1))) and float(last.group(1)) > 0
    # The run's databases are gone afterwards.
    run = re.search(r"databases bench_orders_([0-9a-f]{8})_\*", out)
    assert run is not None, out
    leftovers = subprocess.run(
        [sys.executable, "-c", _LIST_DATABASES, ADMIN_URL, f"bench_orders_{run.group(1)}_"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert leftovers.stdout.strip() == "", leftovers.stdout


_LIST_DATABASES = """
import asyncio, sys
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

async def main() -> None:
    engine = create_async_engine(sys.argv[1])
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
            {"p": sys.argv[2]},
        )
        print("\\n".join(r[0] for r in rows))
    await engine.dispose()

asyncio.run(main())
"""
