"""The short version of scripts/bench chaos: a local mesh through its gateway,
replicas of catalog, inventory and orders killed (SIGTERM, then SIGKILL) under
a REST load, then the books. The long version and the soak are in scripts/bench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(420)
def test_a_short_chaos_drill_keeps_its_books() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.chaos", "--duration", "16", "--interval", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    out = result.stdout
    assert "books:" in out and "all add up" in out, out + result.stderr[-3000:]
    sigterm = next(line for line in out.splitlines() if line.startswith("SIGTERM:"))
    success = float(sigterm.split("success ", 1)[1].split(" %", 1)[0])
    # A SIGTERM costs nothing: the stopping replica keeps serving until its clients
    # stop sending (the lame-duck pause), so no call on the wire is cancelled, and a
    # payment that races its workflow's wait is answered, not refused. The books
    # must add up exactly as well.
    assert success == 100.0, out
    ratio = float(out.strip().splitlines()[-1].removeprefix("ratio: "))
    # The SIGKILL half's target (99.9 %) needs more requests than a short drill
    # makes to be measured; here each of its three kills may cost the orders in
    # flight on the killed replica (non-idempotent calls are not retried; with the
    # fulfilment workflow an order is in flight longer), never the books.
    assert ratio >= 0.95, out
