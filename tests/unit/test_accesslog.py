from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

import pytest

from mesh.accesslog import AccessLog, SecondClock
from mesh.logs import schema_problems
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
    assert (entry["request_id"], entry["peer"], entry["rpc"]) == (
        hostile,
        hostile,
        f"/a.B/{hostile}",
    )
    assert entry["logger"] == "mesh.access"
    assert entry["service"] == "svc"
    assert entry["duration_ms"] == 1.5
    assert schema_problems(entry) == []


@pytest.mark.parametrize("hostile", ['/v1/a"b\\c\u00e9', "new\nline", "\x00", ""])
def test_http_lines_are_valid_json_in_the_one_schema(hostile: str) -> None:
    out = io.StringIO()
    log = AccessLog("gateway", replica="7", stream=out, logger="gateway.access")
    log.request("GET", "/v1/{name=a/*}", hostile, 404, "NOT_FOUND", "", 1.23456, "req-1", hostile)
    log.request(
        "POST", "/v1/echo", "/v1/echo", 200, "OK", "pkg.Svc.Echo", 0.5, "req-2", "1.2.3.4:5",
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
    )  # fmt: skip
    log.close()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["path"] == hostile and first["peer"] == hostile
    assert (first["http_method"], first["http_status"], first["code"]) == ("GET", 404, "NOT_FOUND")
    assert (first["route"], first["request_id"], first["duration_ms"]) == (
        "/v1/{name=a/*}",
        "req-1",
        1.235,
    )
    assert (first["level"], first["logger"], first["replica"]) == ("INFO", "gateway.access", "7")
    assert "trace_id" not in first
    assert second["rpc"] == "pkg.Svc.Echo"
    assert second["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert second["span_id"] == "b7ad6b7169203331"
    assert schema_problems(first) == schema_problems(second) == []


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


def test_the_line_time_is_the_utc_time_to_the_millisecond() -> None:
    clock = SecondClock("%Y-%m-%dT%H:%M:%S", suffix="Z")
    seconds: set[str] = set()
    while len(seconds) < 2:  # across a second's boundary: the cached part must move with it
        before = datetime.now(UTC)
        stamp = clock.now()
        after = datetime.now(UTC)
        assert len(stamp) == 24 and stamp.endswith("Z"), stamp
        seen = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        # Truncated to the millisecond, never ahead of the real time.
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= seen <= after
        seconds.add(stamp[:19])


async def test_a_line_carries_the_time_of_its_call_not_of_its_write() -> None:
    out = WatchedStream()
    log = AccessLog("svc", stream=out, flush_interval=0.2)
    before = datetime.now(UTC)
    log.record("/a.B/C", "OK", 1.0, "r", "ipv4:127.0.0.1:1")
    log.request("GET", "/v1/x", "/v1/x", 200, "OK", "a.B.C", 1.0, "r", "127.0.0.1:2")
    after = datetime.now(UTC)
    await asyncio.wait_for(out.written.wait(), 5)
    written = datetime.now(UTC)
    assert (written - after).total_seconds() >= 0.15  # formatted at the write, 0.2 s later
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        stamp = json.loads(line)["time"]
        seen = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= seen <= after
