"""The shop's OpenAPI document says what its contracts say: comments, field behaviour, examples."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from gateway import create_app
from gateway.sourceinfo import comments_from_set, first_sentence, load_comments


class NoChannels:
    def channel(self, service: str) -> grpc.aio.Channel:
        raise LookupError(service)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = create_app(NoChannels()).openapi
    validate(document)  # type: ignore[arg-type]
    return document


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"]
    return found


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items()]


def test_every_operation_is_described_from_its_rpc_comment(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    assert len(operations) >= 19
    for method, path, op in operations:
        rpc = op["description"].rsplit("gRPC: `", 1)[1].rstrip("`")
        assert op["summary"] and op["summary"] != rpc.rsplit(".", 1)[1], (method, path)
        # The comment comes first; the RPC's name closes the description.
        flat = " ".join(op["description"].split())
        assert flat.startswith(op["summary"].rstrip(".")), (method, path)
        for param in op["parameters"]:
            assert param.get("description"), (method, path, param["name"])
    create = spec["paths"]["/v1/products"]["post"]
    assert create["summary"] == "Creates a product."
    assert create["description"].endswith("gRPC: `shop.catalog.v1.CatalogService.CreateProduct`")


def test_services_messages_and_fields_carry_their_comments(spec: dict[str, Any]) -> None:
    tags = {t["name"]: t["description"] for t in spec["tags"]}
    assert tags["shop.catalog.v1.CatalogService"].startswith("The product catalog")
    for name, schema in _schemas(spec).items():
        assert schema.get("description"), name
        for key, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key}"
    product = _schemas(spec)["shop.catalog.v1.Product"]
    assert product["description"] == "Something the shop sells."
    assert product["properties"]["price"]["description"] == "Unit price."
    status = _schemas(spec)["shop.orders.v1.Order"]["properties"]["status"]
    assert "- `STATUS_CANCELLED`: Cancelled" in status["description"]


def test_output_only_fields_are_read_only(spec: dict[str, Any]) -> None:
    product = _schemas(spec)["shop.catalog.v1.Product"]["properties"]
    assert {k for k, v in product.items() if v.get("readOnly")} == {
        "name",
        "createTime",
        "updateTime",
    }
    order = _schemas(spec)["shop.orders.v1.Order"]["properties"]
    assert order["name"]["readOnly"] and order["total"]["readOnly"]
    assert "$ref" in order["total"]  # a reference keeps its siblings in OpenAPI 3.1
    assert "Immutable" in product["sku"]["description"]
    assert not any(v.get("writeOnly") for v in product.values())


def test_required_fields_are_required_in_request_bodies(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    # CreateProductRequest.product is REQUIRED and is the whole body.
    create = spec["paths"]["/v1/products"]["post"]["requestBody"]
    assert create["required"] is True
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/shop.catalog.v1.Product"
    }
    assert schemas["shop.orders.v1.CreateOrderRequest"]["required"] == ["requestId", "lines"]
    assert schemas["shop.carts.v1.AddCartLineRequest"]["required"] == ["sku", "quantity"]
    # REQUIRED, but the path carries it: the body need not.
    assert "required" not in schemas["shop.orders.v1.CancelOrderRequest"]
    assert "required" not in schemas["shop.catalog.v1.Product"]
    assert spec["paths"]["/v1/products/{product_name}"]["patch"]["requestBody"]["required"]


def test_examples_come_from_the_comments_in_each_fields_type(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    money = schemas["shop.type.v1.Money"]["properties"]
    assert money["currencyCode"]["examples"] == ["EUR"]
    assert money["amountMinor"]["examples"] == ["1200"]  # int64: a string in proto3 JSON
    line = schemas["shop.carts.v1.AddCartLineRequest"]["properties"]
    assert line["quantity"]["examples"] == [2]  # int32: a number
    assert schemas["shop.catalog.v1.Product"]["properties"]["createTime"]["examples"]
    listing = spec["paths"]["/v1/products"]["get"]["parameters"]
    page_size = next(p for p in listing if p["name"] == "page_size")
    assert page_size["example"] == 20


def test_the_partial_patch_is_documented_where_it_applies(spec: dict[str, Any]) -> None:
    patched = [
        (m, p) for m, p, op in _operations(spec) if "**Partial update.**" in op["description"]
    ]
    assert patched == [("patch", "/v1/products/{product_name}")]
    params = spec["paths"]["/v1/products/{product_name}"]["patch"]["parameters"]
    mask = next(p for p in params if p["name"] == "update_mask")
    assert "made from the body's keys" in mask["description"]
    # The carts' PATCH has no update_mask: no such promise.
    assert "Partial" not in spec["paths"]["/v1/cart/lines/{sku}"]["patch"]["description"]


def test_comments_are_read_per_kind_of_element() -> None:
    proto = descriptor_pb2.FileDescriptorProto(name="t.proto", package="p")
    message = proto.message_type.add(name="M")
    message.field.add(name="f", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    nested_enum = message.enum_type.add(name="E")
    nested_enum.value.add(name="E_X", number=0)
    service = proto.service.add(name="S")
    service.method.add(name="Do", input_type=".p.M", output_type=".p.M")
    for path, text in (
        ([4, 0], " A message.\n"),
        ([4, 0, 2, 0], " A field,\n spread over\n\n two paragraphs.\n"),
        ([4, 0, 4, 0, 2, 0], " A value.\n"),
        ([6, 0], " A service.\n"),
        ([6, 0, 2, 0], " Does it. Really.\n"),
    ):
        proto.source_code_info.location.add(path=path, leading_comments=text)
    proto.source_code_info.location.add(path=[4, 0, 4, 0], trailing_comments=" An enum.\n")
    data = descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString()
    assert comments_from_set(data) == {
        "p.M": "A message.",
        "p.M.f": "A field,\nspread over\n\ntwo paragraphs.",
        "p.M.E": "An enum.",
        "p.M.E.E_X": "A value.",
        "p.S": "A service.",
        "p.S.Do": "Does it. Really.",
    }
    assert first_sentence("Does it. Really.") == "Does it."
    assert first_sentence("A field,\nspread over\n\ntwo.") == "A field, spread over"


def test_a_missing_descriptor_set_gives_no_comments_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert load_comments("gateway") == {}  # a package without descriptors.binpb
    assert "descriptors.binpb not found" in caplog.text
    with pytest.raises(Exception):  # noqa: B017, PT011 - protobuf's DecodeError
        comments_from_set(b"\xff\xff\xff")
