"""One test per HttpRule form, against the echo servicer (it returns what it received)."""

from __future__ import annotations

import httpx
import pytest


async def test_body_star_fills_the_whole_request(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/echo", json={"name": "n", "i64": "5", "color": "COLOR_RED"})
    assert r.status_code == 200
    got = r.json()["request"]
    assert (got["name"], got["i64"], got["color"]) == ("n", "5", "COLOR_RED")
    assert r.json()["rpc"] == "Echo"


async def test_proto_field_names_are_accepted_and_camel_case_comes_out(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/v1/echo", json={"outer": {"middle": {"leaf": "x"}}, "count": 1, "colors": ["COLOR_RED"]}
    )
    assert r.status_code == 200
    assert "timeRemaining" in r.json()
    assert r.json()["request"]["outer"] == {"middle": {"leaf": "x", "n": 0}}


async def test_get_with_path_variable(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/things/abc")
    assert r.status_code == 200
    assert r.json()["request"]["name"] == "things/abc"
    assert r.json()["rpc"] == "GetThing"


async def test_literal_route_beats_wildcard(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/things/special")).json()["rpc"] == "GetSpecial"


async def test_nested_field_in_path(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/shelves/s1/books/b%201")
    assert r.json()["request"]["book"]["name"] == "shelves/s1/books/b 1"


async def test_double_star_keeps_slashes_and_encoded_slashes(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/files/a/b%2Fc/d%20e")
    assert r.json()["request"]["path"] == "a/b%2Fc/d e"


async def test_single_segment_variable_decodes_everything(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/multi/a%2Fb%3Ac")
    assert r.json()["request"]["name"] == "a/b:c"


async def test_body_field_and_response_body(client: httpx.AsyncClient) -> None:
    r = await client.patch("/v1/shelves/s1/books/b1", json={"title": "T", "pages": 3})
    assert r.status_code == 200
    assert r.json() == {"name": "shelves/s1/books/b1", "title": "T", "pages": 3}


async def test_put_with_body_field_and_query(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/things/t?i32=7", json={"title": "T"})
    got = r.json()["request"]
    assert (got["name"], got["book"]["title"], got["i32"]) == ("things/t", "T", 7)


async def test_delete_without_body(client: httpx.AsyncClient) -> None:
    r = await client.delete("/v1/things/t")
    assert r.json()["rpc"] == "DeleteThing"


async def test_custom_verb(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/things/t1:cancel", json={})
    assert (r.json()["rpc"], r.json()["request"]["name"]) == ("CancelThing", "things/t1")


async def test_custom_http_method(client: httpx.AsyncClient) -> None:
    r = await client.request("SEARCH", "/v1/things", json={"name": "q"})
    assert (r.json()["rpc"], r.json()["request"]["name"]) == ("SearchThings", "q")


async def test_additional_bindings(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/multi/m")).json()["rpc"] == "Multi"
    assert (await client.get("/v2/multi/m")).json()["rpc"] == "Multi"
    assert (await client.post("/v2/multi", json={"name": "p"})).json()["request"]["name"] == "p"


async def test_empty_body_is_an_empty_message(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/echo")).status_code == 200


async def test_query_parameters_of_every_kind(client: httpx.AsyncClient) -> None:
    query = (
        "i32=-3&i64=9007199254740993&u64=18446744073709551615&dbl=1.5&flag=true&data=aGk"
        "&color=2&colors=COLOR_RED&colors=1&tags=a&tags=b%20c&nums=1&nums=2"
        "&outer.middle.leaf=z&outer.middle.n=4&ts=2024-01-02T03:04:05Z&dur=1.5s"
        "&mask=a,b.c&sv=s&iv=5&bv=false"
    )
    got = (await client.get(f"/v1/things/x?{query}")).json()["request"]
    assert got["i32"] == -3
    assert got["i64"] == "9007199254740993"
    assert got["u64"] == "18446744073709551615"
    assert got["dbl"] == 1.5
    assert got["flag"] is True
    assert got["data"] == "aGk="
    assert got["color"] == "COLOR_BLUE"
    assert got["colors"] == ["COLOR_RED", "COLOR_RED"]
    assert got["tags"] == ["a", "b c"]
    assert got["nums"] == [1, 2]
    assert got["outer"] == {"middle": {"leaf": "z", "n": 4}}
    assert (got["ts"], got["dur"], got["mask"]) == ("2024-01-02T03:04:05Z", "1.500s", "a,b.c")
    assert (got["sv"], got["iv"], got["bv"]) == ("s", 5, False)


async def test_query_accepts_json_names(client: httpx.AsyncClient) -> None:
    got = (await client.get("/v1/things/x?outer.middle.leaf=q")).json()["request"]
    assert got["outer"]["middle"]["leaf"] == "q"


async def test_unannotated_rpc_has_no_route(client: httpx.AsyncClient) -> None:
    assert (await client.post("/gatewaytest.v1.EchoService/Hidden")).status_code == 404


@pytest.mark.parametrize(
    "mask",
    [
        "\U0001d54bhe,quick",  # an upper-case letter with no lower-case form
        "a__b",  # no JSON form: '_' must precede a lower-case letter
        "caf\u00e9",  # not an ASCII field name
        "a..b",
    ],
)
async def test_field_masks_that_cannot_round_trip_are_400(
    client: httpx.AsyncClient, mask: str
) -> None:
    r = await client.get("/v1/things/x", params={"mask": mask})
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "mask"
    r = await client.post("/v1/echo", json={"mask": mask})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 3


async def test_field_masks_round_trip_in_query_and_body(client: httpx.AsyncClient) -> None:
    got = (await client.get("/v1/things/x", params={"mask": "fooBar.baz,qux"})).json()
    assert got["request"]["mask"] == "fooBar.baz,qux"
    got = (await client.post("/v1/echo", json={"mask": "fooBar.baz,qux"})).json()
    assert got["request"]["mask"] == "fooBar.baz,qux"
