"""/openapi.json is valid OpenAPI 3.1; /healthz, /readyz (/docs: test_gateway_docs.py)."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate


async def test_openapi_document_is_valid_3_1(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


async def test_openapi_covers_every_binding(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/v1/things/{name}"]) == {"get", "put", "delete"}
    assert "post" in paths["/v1/things/{name}:cancel"]
    assert "/v1/shelves/{book_name_1}/books/{book_name_2}" in paths
    assert {"get"} == set(paths["/v2/multi/{name}"])
    assert "post" in paths["/v2/multi"]
    get = paths["/v1/things/{name}"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"i32", "outer.middle.leaf", "ts", "tags"} <= names
    assert "name" in names  # the path parameter
    assert get["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/google.rpc.Status"
    }


async def test_openapi_schemas_follow_proto3_json(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    props = schemas["gatewaytest.v1.EchoRequest"]["properties"]
    assert props["i64"]["type"] == "string"
    assert props["color"]["enum"] == ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_BLUE"]
    assert (props["ts"]["type"], props["ts"]["format"]) == ("string", "date-time")
    assert props["ts"]["description"] == "Timestamp"
    assert props["labels"]["additionalProperties"] == {"type": "string"}
    assert "timeRemaining" in schemas["gatewaytest.v1.EchoResponse"]["properties"]


async def test_field_behaviour_and_comments_of_a_test_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    shelf = spec["components"]["schemas"]["gatewaytest.v1.Shelf"]
    assert (
        shelf["description"]
        == "A resource with one field of each kind a partial update must handle."
    )
    props = shelf["properties"]
    assert props["updateTime"]["readOnly"] is True
    assert props["secret"]["writeOnly"] is True
    assert "Immutable" in props["location"]["description"]
    assert "Identifier" in props["name"]["description"]
    assert props["featured"]["$ref"] == "#/components/schemas/gatewaytest.v1.Book"
    # UpdateShelf answers with its request: REQUIRED shows in that component.
    assert spec["components"]["schemas"]["gatewaytest.v1.UpdateShelfRequest"]["required"] == [
        "shelf"
    ]
    patch = spec["paths"]["/v1/shelves/{shelf_name}"]
    assert "**Partial update.**" in patch["patch"]["description"]
    assert "**Partial update.**" not in patch["put"]["description"]
    assert patch["patch"]["summary"].startswith("A partial update")
    tags = {t["name"]: t.get("description") for t in spec["tags"]}
    assert (
        tags["gatewaytest.v1.EchoService"] == "Echoes what it received; one RPC per HttpRule form."
    )


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["backends"] == {"echo": "SERVING"}
    assert (await client.post("/healthz")).status_code == 405


async def test_custom_http_methods_are_kept_in_an_extension(client: httpx.AsyncClient) -> None:
    item = (await client.get("/openapi.json")).json()["paths"]["/v1/things"]
    assert item["x-additional-operations"]["SEARCH"]["operationId"] == "EchoService_SearchThings"
