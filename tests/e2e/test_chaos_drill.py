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
    # A SIGTERM should cost nothing: the stopping replica keeps serving until its
    # clients stop sending (the lame-duck pause), so no call on the wire is cancelled
    # (the stray 499 of earlier drills). One odd answer in a few hundred is tolerated
    # here: a ConfirmPayment refused FAILED_PRECONDITION while its order's workflow
    # was being started was seen once in a long drill, not yet understood; the
    # books must still add up exactly, and scripts/bench chaos keeps the 100 % target.
    assert success >= 99.5, out
    ratio = float(out.strip().splitlines()[-1].removeprefix("ratio: "))
    # The SIGKILL half's target (99.9 %) needs more requests than a short drill
    # makes to be measured; here each of its three kills may cost the orders in
    # flight on the killed replica (non-idempotent calls are not retried; with the
    # fulfilment workflow an order is in flight longer), never the books.
    assert ratio >= 0.95, out
