"""PATCH without update_mask: the gateway makes the mask from the body's keys.

The echo backend's UpdateShelf answers with the request it received, so each
test sees the mask (and the values) the service would get.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway import Gateway
from gateway.patch import mask_field, mask_paths
from gateway.rules import bindings_for, resolve_services
from tests.integration.gateway.conftest import ECHO

SHELF = "/v1/shelves/s1"


async def _patch(client: httpx.AsyncClient, body: Any, query: str = "") -> dict[str, Any]:
    r = await client.patch(SHELF + query, json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _mask(answer: dict[str, Any]) -> set[str]:
    mask: str = answer.get("updateMask", "")
    return set(mask.split(",")) if mask else set()


async def test_only_the_keys_sent_are_in_the_mask(client: httpx.AsyncClient) -> None:
    answer = await _patch(client, {"title": "Poetry"})
    assert _mask(answer) == {"title"}
    assert (answer["shelf"]["name"], answer["shelf"]["title"]) == ("shelves/s1", "Poetry")


async def test_json_and_proto_names_both_name_the_field(client: httpx.AsyncClient) -> None:
    # The mask's JSON form (the echo's answer) spells paths in lowerCamelCase.
    for key in ("update_time", "updateTime"):
        answer = await _patch(client, {key: None, "capacity": 0, "location": "attic"})
        assert _mask(answer) == {"updateTime", "capacity", "location"}


async def test_nested_message_keys_become_dotted_paths(client: httpx.AsyncClient) -> None:
    answer = await _patch(
        client, {"featured": {"title": "Odes"}, "outer": {"middle": {"leaf": "x", "n": 0}}}
    )
    assert _mask(answer) == {"featured.title", "outer.middle.leaf", "outer.middle.n"}
    assert answer["shelf"]["featured"]["title"] == "Odes"


async def test_a_map_is_one_path_replaced_whole(client: httpx.AsyncClient) -> None:
    answer = await _patch(client, {"labels": {"colour": "red", "size": "xl"}})
    assert _mask(answer) == {"labels"}
    assert answer["shelf"]["labels"] == {"colour": "red", "size": "xl"}


async def test_repeated_fields_are_one_path_each(client: httpx.AsyncClient) -> None:
    answer = await _patch(client, {"tags": ["a", "b"], "books": [{"title": "t", "pages": 3}]})
    assert _mask(answer) == {"tags", "books"}
    # An empty list still names the field: it clears it.
    assert _mask(await _patch(client, {"tags": []})) == {"tags"}


async def test_well_known_types_null_and_empty_objects_are_leaves(
    client: httpx.AsyncClient,
) -> None:
    answer = await _patch(client, {"ttl": "3.5s", "featured": {}, "outer": None})
    assert _mask(answer) == {"ttl", "featured", "outer"}


async def test_an_explicit_mask_in_the_query_wins(client: httpx.AsyncClient) -> None:
    answer = await _patch(client, {"title": "T", "capacity": 4}, "?update_mask=capacity")
    assert _mask(answer) == {"capacity"}
    answer = await _patch(client, {"title": "T"}, "?updateMask=featured.title,labels")
    assert _mask(answer) == {"featured.title", "labels"}


async def test_no_body_makes_no_mask(client: httpx.AsyncClient) -> None:
    assert _mask(await _patch(client, {})) == set()
    r = await client.patch(SHELF)
    assert r.status_code == 200
    assert not r.json().get("updateMask")


async def test_only_patch_fills_the_mask(client: httpx.AsyncClient) -> None:
    r = await client.put(SHELF, json={"title": "Poetry"})
    assert r.status_code == 200
    assert not r.json().get("updateMask")
    # UpdateBook is a PATCH too, but its request has no update_mask: untouched.
    r = await client.patch("/v1/shelves/s/books/b", json={"title": "x"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["title"]) == ("shelves/s/books/b", "x")


async def test_hostile_bodies_are_rejected_before_any_mask(client: httpx.AsyncClient) -> None:
    for body, needle in (
        ({"title": "x", "nope": 1}, "nope"),  # unknown key
        ({"featured": {"nope": 1}}, "nope"),  # unknown nested key
        ({"labels": ["not", "a", "map"]}, "labels"),
        ({"featured": "not an object"}, "featured"),
        (["a", "list"], ""),
        ("a string", ""),
    ):
        r = await client.patch(SHELF, json=body)
        assert r.status_code == 400, body
        assert r.json()["code"] == 3
        assert needle in r.json()["message"]


async def test_duplicate_keys_and_deep_nesting_are_rejected(client: httpx.AsyncClient) -> None:
    r = await client.patch(SHELF, content=b'{"title": "a", "title": "b"}')
    assert r.status_code == 400
    deep = b'{"outer": {"middle": ' * 60 + b"{}" + b"}}" * 60
    r = await client.patch(SHELF, content=deep)
    assert r.status_code == 400


async def test_an_oversized_body_is_413_before_parsing(make_app: Callable[..., Gateway]) -> None:
    transport = httpx.ASGITransport(app=make_app(max_body_bytes=1024))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        r = await c.patch(SHELF, json={"tags": ["x" * 100] * 20})
        assert r.status_code == 413
        r = await c.patch(SHELF, json={"tags": ["x"] * 5})
        assert r.status_code == 200


async def test_a_malformed_query_mask_is_rejected(client: httpx.AsyncClient) -> None:
    r = await client.patch(SHELF + "?update_mask=Not%20A%20Path", json={"title": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == 3


@pytest.mark.usefixtures("echo_modules")
def test_mask_paths_follow_json_keys_without_a_server() -> None:
    shelf = resolve_services(ECHO)["echo"].methods_by_name["UpdateShelf"].input_type
    resource = shelf.fields_by_name["shelf"].message_type
    assert resource is not None
    assert mask_paths(resource, {"featured": {"pages": 1, "name": "n"}, "tags": None}) == [
        "featured.pages",
        "featured.name",
        "tags",
    ]
    assert mask_paths(resource, {"unknown": 1}) == []
    assert mask_paths(resource, {"update_time": None, "updateTime": None}) == ["update_time"]


@pytest.mark.usefixtures("echo_modules")
def test_which_bindings_fill_a_mask() -> None:
    filled = {
        (b.http_method, b.rpc.rsplit(".", 1)[1])
        for b in bindings_for(resolve_services(ECHO))
        if mask_field(b) is not None
    }
    assert filled == {("PATCH", "UpdateShelf")}


async def test_input_only_fields_go_in_and_never_come_out(client: httpx.AsyncClient) -> None:
    answer = await _patch(client, {"secret": "s3cret"})
    assert _mask(answer) == {"secret"}
    # The echo received it and sent it back; the gateway leaves it out of the answer.
    assert "secret" not in answer["shelf"]
    assert "location" in answer["shelf"]  # other unset fields are printed as usual
