from __future__ import annotations

import asyncio
import io
import json

import pytest

from mesh.accesslog import AccessLog
from tests.support.waiting import WatchedStream


@pytest.mark.parametrize(
    "hostile",
    ['x"} {"forged": true', "back\\slash", "new\nline", "tab\t", "\u2028", "é", "", "\x00"],
)
def test_every_line_is_one_valid_json_object(hostile: str) -> None:
    out = io.StringIO()
    log = AccessLog("svc", stream=out)
    log.record(f"/a.B/{hostile}", "OK", 1.5, hostile, hostile)
    log.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert (entry["request_id"], entry["peer"], entry["method"]) == (
        hostile,
        hostile,
        f"/a.B/{hostile}",
    )
    assert entry["logger"] == "mesh.access"
    assert entry["service"] == "svc"
    assert entry["duration_ms"] == 1.5


async def test_lines_are_batched_until_flush_or_the_batch_limit() -> None:
    out = io.StringIO()
    log = AccessLog("svc", stream=out, max_lines=3)
    for i in range(2):
        log.record("/a.B/C", "OK", 1.0, f"r{i}", "ipv4:127.0.0.1:1")
    assert out.getvalue() == ""
    log.record("/a.B/C", "OK", 1.0, "r2", "ipv4:127.0.0.1:1")
    assert len(out.getvalue().splitlines()) == 3


async def test_a_quiet_server_still_writes_within_the_flush_interval() -> None:
    out = WatchedStream()
    log = AccessLog("svc", stream=out, flush_interval=0.05)
    loop = asyncio.get_running_loop()
    recorded = loop.time()
    log.record("/a.B/C", "OK", 1.0, "r", "ipv4:127.0.0.1:1")
    assert out.getvalue() == ""
    await asyncio.wait_for(out.written.wait(), 5)  # the timer flushed the batch
    assert 0.049 <= loop.time() - recorded < 0.2  # the interval, not at once nor late
    assert len(out.getvalue().splitlines()) == 1
