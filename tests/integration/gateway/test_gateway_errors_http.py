"""Every error path: JSON google.rpc.Status bodies, never text/plain, never a gateway 5xx."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx
import pytest

from gateway import HTTP_STATUS, Gateway


def assert_status(r: httpx.Response, http: int, code: int) -> dict[str, object]:
    assert r.status_code == http, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    return body  # type: ignore[no-any-return]


def violation_fields(body: dict[str, object]) -> list[str]:
    details = body["details"]
    assert isinstance(details, list)
    bad = next(d for d in details if d["@type"].endswith("google.rpc.BadRequest"))
    return [v["field"] for v in bad["fieldViolations"]]


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert_status(await client.get("/v9/nothing"), 404, 5)


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/echo")
    assert_status(r, 405, 12)
    assert r.headers["allow"] == "POST"


async def test_unknown_query_parameter_is_named(client: httpx.AsyncClient) -> None:
    body = assert_status(await client.get("/v1/things/x?bogus=1"), 400, 3)
    assert "bogus" in str(body["message"])
    assert violation_fields(body) == ["bogus"]


async def test_query_parameter_for_a_path_bound_field_is_refused(client: httpx.AsyncClient) -> None:
    body = assert_status(await client.get("/v1/things/x?name=y"), 400, 3)
    assert violation_fields(body) == ["name"]


async def test_query_parameter_with_body_star_is_refused(client: httpx.AsyncClient) -> None:
    assert_status(await client.post("/v1/echo?name=x", json={}), 400, 3)


@pytest.mark.parametrize(
    "query",
    [
        "i32=abc",
        "i32=99999999999",
        "flag=yes",
        "color=PURPLE",
        "color=7",
        "ts=yesterday",
        "data=%%%",
        "outer.middle=x",
        "outer.middle.leaf.x=1",
        "labels=x",
        "u64=-1",
        "iv=x",
    ],
)
async def test_bad_query_values_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert_status(await client.get(f"/v1/things/x?{query}"), 400, 3)


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert violation_fields(assert_status(r, 400, 3)) == ["body"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"i32": "x"}',
        b'{"nope": 1}',
        b'{"color": "PURPLE"}',
        b"[1,2]",
        b'"s"',
        b'{"book": 5}',
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
    ],
)
async def test_wrong_types_unknown_fields_bad_enums_are_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    assert_status(await client.post("/v1/echo", content=body), 400, 3)


async def test_body_field_errors_name_the_field(client: httpx.AsyncClient) -> None:
    r = await client.patch("/v1/shelves/s/books/b", json={"pages": "many"})
    assert violation_fields(assert_status(r, 400, 3)) == ["book"]


async def test_bad_percent_encoding_in_path_is_400(client: httpx.AsyncClient) -> None:
    assert_status(await client.get("/v1/things/%zz"), 400, 3)
    assert_status(await client.get("/v1/things/%ff%fe"), 400, 3)


async def test_bad_percent_encoding_in_query_is_400(client: httpx.AsyncClient) -> None:
    assert_status(await client.get("/v1/things/x?tags=%zz"), 400, 3)


async def test_missing_path_value_is_400(client: httpx.AsyncClient) -> None:
    # `**` matches zero segments, so the route is found but the value is empty.
    body = assert_status(await client.get("/v1/files/"), 400, 3)
    assert violation_fields(body) == ["path"]


async def test_body_over_the_limit_is_413(make_app: Callable[..., Gateway]) -> None:
    transport = httpx.ASGITransport(app=make_app(max_body_bytes=64))
    async with httpx.AsyncClient(transport=transport, base_url="http://g") as c:
        assert_status(await c.post("/v1/echo", json={"name": "x" * 100}), 413, 8)
        assert (await c.post("/v1/echo", json={"name": "x"})).status_code == 200


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK])
async def test_backend_status_maps_to_http_with_its_details(
    client: httpx.AsyncClient, code: grpc.StatusCode
) -> None:
    r = await client.post(
        "/v1/echo",
        json={},
        headers={
            "grpc-metadata-x-echo-fail": str(code.value[0]),
            "grpc-metadata-x-echo-fail-message": "nope",
        },
    )
    body = assert_status(r, HTTP_STATUS[code], code.value[0])
    assert body["message"] == "nope"
    types = [d["@type"] for d in body["details"]]  # type: ignore[attr-defined]
    assert types == [
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.ErrorInfo",
    ]


async def test_backend_down_is_503(make_app: Callable[..., Gateway]) -> None:
    from gateway import LocalChannelProvider, Settings, create_app
    from tests.gateway_support.echo import SERVICE

    dead = LocalChannelProvider({"echo": 1})
    app = create_app(
        dead,
        services={"echo": SERVICE},
        settings=Settings(access_log=False),
        generated_package=None,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c:
        assert_status(await c.post("/v1/echo", json={}), 503, 14)
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["backends"] == {"echo": "UNAVAILABLE"}
    await dead.close()
