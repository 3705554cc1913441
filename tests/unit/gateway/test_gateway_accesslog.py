from __future__ import annotations

import asyncio
import io
import json

from gateway.accesslog import AccessLog
from tests.support.waiting import WatchedStream


def test_one_json_line_per_request_with_the_fields() -> None:
    out = io.StringIO()
    log = AccessLog(out)
    log.write("GET", '/v1/a"b\\c\u00e9', 404, "", "req-1", 1.23456)
    log.write("POST", "/v1/echo", 200, "pkg.Svc.Echo", "req-2", 0.5)
    lines = out.getvalue().splitlines()  # outside a loop each line goes out at once
    first, second = (json.loads(line) for line in lines)
    assert first["path"] == '/v1/a"b\\c\u00e9'
    assert (first["method"], first["status"], first["request_id"]) == ("GET", 404, "req-1")
    assert first["duration_ms"] == 1.235
    assert (first["level"], first["logger"]) == ("info", "gateway.access")
    assert second["rpc"] == "pkg.Svc.Echo"
    assert len(first["time"]) == len("2026-01-02 03:04:05,678")


async def test_lines_are_batched_and_flushed_on_time_size_and_close() -> None:
    out = WatchedStream()
    log = AccessLog(out, interval=0.05, max_lines=3)
    loop = asyncio.get_running_loop()
    written = loop.time()
    log.write("GET", "/a", 200, "r", "1", 0.1)
    assert out.getvalue() == ""
    await asyncio.wait_for(out.written.wait(), 5)  # the timer flushed the batch
    assert 0.049 <= loop.time() - written < 0.15  # the interval, not at once nor late
    assert len(out.getvalue().splitlines()) == 1
    for i in range(3):
        log.write("GET", "/b", 200, "r", str(i), 0.1)
    assert len(out.getvalue().splitlines()) == 4  # max_lines reached
    log.write("GET", "/c", 200, "r", "x", 0.1)
    log.close()
    assert len(out.getvalue().splitlines()) == 5
