"""Through the real uvicorn server over loopback, and the schemathesis fuzz run."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest

from tests.gateway_support.live import live_gateway


@pytest.fixture(scope="module")
def base_url(echo_modules: tuple[ModuleType, ModuleType]) -> Iterator[str]:
    with live_gateway(echo_modules) as url:
        yield url


def test_unary_call_over_loopback(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        r = client.post(
            "/v1/things/a%20b:cancel", json={"i64": 3}, headers={"x-request-id": "live-1"}
        )
    assert r.status_code == 200
    assert r.json()["request"]["name"] == "things/a b"
    assert r.headers["x-request-id"] == "live-1"


def test_stream_is_delivered_line_by_line(base_url: str) -> None:
    with (
        httpx.Client(base_url=base_url) as client,
        client.stream("GET", "/v1/things/t:watch?count=3") as r,
    ):
        lines = list(r.iter_lines())
    assert r.headers["content-type"] == "application/x-ndjson"
    assert len(lines) == 3


def test_errors_over_loopback_are_json(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        r = client.get("/v1/things/x?nope=1")
        assert r.status_code == 400
        assert r.json()["code"] == 3
        r = client.post("/v1/echo", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/json"
