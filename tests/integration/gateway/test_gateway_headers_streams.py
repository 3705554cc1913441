"""Headers ⇄ metadata, request ids, deadlines, and server streaming (NDJSON and SSE)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable

import httpx
import pytest

from gateway import Gateway, LocalChannelProvider, Settings, create_app
from mesh.logs import schema_problems
from tests.gateway_support.echo import SERVICE


async def test_traceparent_and_grpc_metadata_are_forwarded_credentials_are_not(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/v1/echo",
        json={},
        headers={
            "authorization": "Bearer t0k",
            "cookie": "session=s3cret",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "grpc-metadata-x-tenant": "acme",
            "x-not-allowed": "dropped",
        },
    )
    metadata = r.json()["metadata"]
    # The gateway verifies tokens itself; no service ever holds a caller's credentials.
    assert "authorization" not in metadata
    assert "cookie" not in metadata
    assert metadata["traceparent"].startswith("00-0af7")
    assert metadata["x-tenant"] == "acme"
    assert "x-not-allowed" not in metadata


async def test_allow_listed_headers_are_forwarded(make_app: Callable[..., Gateway]) -> None:
    app = make_app(forward_headers=("x-api-key",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c:
        r = await c.post("/v1/echo", json={}, headers={"x-api-key": "k"})
    assert r.json()["metadata"]["x-api-key"] == "k"


async def test_response_metadata_comes_back_as_grpc_metadata_headers(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/echo", json={})
    assert r.headers["grpc-metadata-x-echo-initial"] == "hello"
    assert r.headers["grpc-metadata-x-echo-trailer"] == "bye"


async def test_request_id_is_kept_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", json={}, headers={"x-request-id": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    assert r.json()["metadata"]["x-request-id"] == "req-42"
    generated = (await client.post("/v1/echo", json={})).headers["x-request-id"]
    assert len(generated) == 32
    assert (await client.get("/nowhere")).headers["x-request-id"]


async def test_invalid_metadata_header_is_400(client: httpx.AsyncClient) -> None:
    bad = "caf\u00e9".encode("latin-1")
    r = await client.post("/v1/echo", json={}, headers=[(b"grpc-metadata-x-bad", bad)])
    assert r.status_code == 400
    assert r.json()["code"] == 3


async def test_deadline_from_grpc_timeout_and_default(client: httpx.AsyncClient) -> None:
    short = (await client.post("/v1/echo", json={}, headers={"grpc-timeout": "2S"})).json()
    assert 0 < short["timeRemaining"] <= 2.5
    default = (await client.post("/v1/echo", json={})).json()
    assert 2 < default["timeRemaining"] <= 15.5  # the wire format rounds up
    capped = (await client.post("/v1/echo", json={}, headers={"grpc-timeout": "1H"})).json()
    assert capped["timeRemaining"] <= 29.5


async def test_bad_grpc_timeout_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", json={}, headers={"grpc-timeout": "soon"})
    assert r.status_code == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "Grpc-Timeout"


async def test_stream_as_ndjson(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/things/t:watch?count=3")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["result"]["index"] for line in lines] == [0, 1, 2]


async def test_stream_error_after_messages_is_a_terminal_error_line(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(
        "/v1/things/t:watch?count=5",
        headers={"grpc-metadata-x-echo-fail": "10", "grpc-metadata-x-echo-fail-after": "2"},
    )
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [list(line) for line in lines] == [["result"], ["result"], ["error"]]
    assert lines[-1]["error"]["code"] == 10
    assert lines[-1]["error"]["details"][1]["reason"] == "ECHO_FAIL"


async def test_stream_failing_at_once_gets_a_real_http_status(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/things/t:watch?count=5", headers={"grpc-metadata-x-echo-fail": "5"})
    assert r.status_code == 404
    assert r.json()["code"] == 5


async def test_empty_stream_is_200_with_no_lines(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/things/t:watch?count=0")
    assert (r.status_code, r.text) == (200, "")


async def test_stream_as_server_sent_events(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/things/t:watch?count=2", headers={"accept": "text/event-stream"})
    assert r.headers["content-type"] == "text/event-stream"
    events = [e for e in r.text.split("\n\n") if e]
    assert len(events) == 2
    assert json.loads(events[1].removeprefix("data: "))["index"] == 1


async def test_sse_error_event(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/things/t:watch?count=3",
        headers={
            "accept": "text/event-stream",
            "grpc-metadata-x-echo-fail": "14",
            "grpc-metadata-x-echo-fail-after": "1",
        },
    )
    events = [e for e in r.text.split("\n\n") if e]
    assert events[-1].startswith("event: error\ndata: ")
    assert json.loads(events[-1].split("data: ", 1)[1])["code"] == 14


async def test_generated_request_ids_are_hex_unique_and_forwarded(
    client: httpx.AsyncClient,
) -> None:
    seen = set()
    for _ in range(50):
        r = await client.post("/v1/echo", json={})
        generated = r.headers["x-request-id"]
        assert int(generated, 16) >= 0
        assert r.json()["metadata"]["x-request-id"] == generated
        seen.add(generated)
    assert len(seen) == 50


async def test_access_log_has_one_line_per_request(
    provider: LocalChannelProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)  # every process logs to stderr
    app = create_app(
        provider,
        services={"echo": SERVICE},
        settings=Settings(access_log=True),
        generated_package=None,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        ok = await c.post("/v1/echo", json={"name": "n"}, headers={"x-request-id": "log-1"})
        missing = await c.get("/nowhere")
    assert app.access_log is not None
    app.access_log.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["http_method"], e["path"], e["http_status"], e["code"]) for e in lines] == [
        ("POST", "/v1/echo", 200, "OK"),
        ("GET", "/nowhere", 404, "NOT_FOUND"),
    ]
    assert [e["route"] for e in lines] == ["/v1/echo", ""]  # the template, never a raw path
    assert all(schema_problems(e) == [] for e in lines)
    assert lines[0]["request_id"] == ok.headers["x-request-id"] == "log-1"
    assert lines[1]["request_id"] == missing.headers["x-request-id"]
    assert lines[0]["rpc"].endswith("EchoService.Echo")
    assert lines[0]["duration_ms"] >= 0
