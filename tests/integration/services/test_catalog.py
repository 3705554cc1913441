"""CatalogService over real gRPC, on SQLite and PostgreSQL, and on DynamoDB
(``CATALOG_STORE=dynamodb``, moto's server) beside SQLite for the other services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from mesh.paging import PageTokens
from services.catalog.dynamodb import DynamoCatalogStore
from shop.catalog.v1 import catalog_pb2 as pb
from shop.type.v1.money_pb2 import Money
from tests.integration.discovery.support import REGION
from tests.support.assertions import details, invalid, reason, rpc_error
from tests.support.dynamodb import catalog_table
from tests.support.mesh import PAGE_TOKEN_KEY, Shop, shop

NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "dynamodb"])
async def mesh(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None
) -> AsyncIterator[Shop]:
    kind: str = request.param
    if kind == "postgres" and pg_url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    if kind != "dynamodb":
        async with shop(kind, tmp_path, pg_url) as running:
            yield running
        return
    async with catalog_table() as (endpoint, table):
        env = {
            "CATALOG_STORE": "dynamodb",
            "CATALOG_DYNAMODB_TABLE": table,
            "MESH_DYNAMODB_ENDPOINT": endpoint,
            "AWS_REGION": REGION,
        }
        async with shop("sqlite", tmp_path, pg_url, catalog_env=env) as running:
            assert isinstance(running.catalog.store, DynamoCatalogStore)
            yield running


def product(sku: str = "mug", **overrides: object) -> pb.Product:
    fields: dict[str, object] = {
        "sku": sku,
        "display_name": "Mug",
        "description": "Holds coffee",
        "price": Money(currency_code="EUR", amount_minor=1200),
        "active": True,
    }
    fields.update(overrides)
    return pb.Product(**fields)  # type: ignore[arg-type]


async def test_create_and_get(mesh: Shop) -> None:
    created = (
        await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    ).product
    assert created.name == "products/mug"
    assert created.price.amount_minor == 1200 and created.active
    assert created.create_time.seconds > 0
    got = (await mesh.catalog_stub.GetProduct(pb.GetProductRequest(name="products/mug"))).product
    assert got == created


async def test_create_twice_is_already_exists(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    call = mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    assert await reason(call, grpc.StatusCode.ALREADY_EXISTS) == "PRODUCT_EXISTS"


async def test_create_reports_every_bad_field(mesh: Shop) -> None:
    bad = product(
        sku="no spaces",
        display_name="  ",
        description="x" * 2001,
        price=Money(currency_code="euro", amount_minor=-1),
    )
    await invalid(
        mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=bad)),
        "product.sku",
        "product.display_name",
        "product.description",
        "product.price.currency_code",
        "product.price.amount_minor",
    )
    await invalid(mesh.catalog_stub.CreateProduct(pb.CreateProductRequest()), "product")
    await invalid(
        mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product(price=None))),
        "product.price",
    )
    listed = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest())
    assert list(listed.products) == []


async def test_get_errors(mesh: Shop) -> None:
    assert (
        await reason(
            mesh.catalog_stub.GetProduct(pb.GetProductRequest(name="products/nope")), NOT_FOUND
        )
        == "PRODUCT_NOT_FOUND"
    )
    for name in [
        "",
        "products/",
        "mug",
        "shelves/mug",
        "products/a/b",
        "products/" + "x" * 65,
        "products/\u0000",
        "products/mug\n",
    ]:
        await invalid(mesh.catalog_stub.GetProduct(pb.GetProductRequest(name=name)), "name")


async def test_list_paginates_and_filters(mesh: Shop) -> None:
    for i in range(7):
        await mesh.catalog_stub.CreateProduct(
            pb.CreateProductRequest(product=product(f"sku-{i}", active=i % 2 == 0))
        )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await mesh.catalog_stub.ListProducts(
            pb.ListProductsRequest(page_size=3, page_token=token)
        )
        seen += [p.sku for p in page.products]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"sku-{i}" for i in range(7)]
    assert pages == 3
    active = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest(active=True))
    assert [p.sku for p in active.products] == ["sku-0", "sku-2", "sku-4", "sku-6"]
    inactive = await mesh.catalog_stub.ListProducts(
        pb.ListProductsRequest(active=False, page_size=1)
    )
    assert [p.sku for p in inactive.products] == ["sku-1"]
    # A token is bound to its filter: reusing it with another filter is refused.
    await invalid(
        mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_token=inactive.next_page_token)),
        "page_token",
    )


async def test_list_rejects_tampered_tokens_and_bad_sizes(mesh: Shop) -> None:
    for i in range(3):
        await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product(f"p{i}")))
    page = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_size=1))
    token = page.next_page_token
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in [flipped, "garbage", "a.b", token + "x", "." * 2000, "\u00e9.\u00e9"]:
        await invalid(
            mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_size=1, page_token=bad)),
            "page_token",
        )
    await invalid(mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_size=-1)), "page_size")
    huge = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_size=100_000))
    assert len(huge.products) == 3


async def test_a_signed_token_with_a_forged_cursor_is_refused(mesh: Shop) -> None:
    """Even with the key, a cursor that is not a sku never becomes a start key."""
    for i in range(3):
        await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product(f"p{i}")))
    tokens = PageTokens(PAGE_TOKEN_KEY.encode())
    query = {"active": None}
    for cursor in [{"sku": {"S": "p0"}, "listing": {"S": "product"}}, ["p0"], 7, "p/0", ""]:
        await invalid(
            mesh.catalog_stub.ListProducts(
                pb.ListProductsRequest(page_size=1, page_token=tokens.encode(cursor, query))
            ),
            "page_token",
        )
    good = tokens.encode("p0", query)
    page = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest(page_token=good))
    assert [p.sku for p in page.products] == ["p1", "p2"]


async def test_update_with_mask(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    change = pb.Product(name="products/mug", display_name="Big mug", description="ignored")
    updated = (
        await mesh.catalog_stub.UpdateProduct(
            pb.UpdateProductRequest(product=change, update_mask=FieldMask(paths=["display_name"]))
        )
    ).product
    assert updated.display_name == "Big mug"
    assert updated.description == "Holds coffee"
    assert updated.update_time.ToMicroseconds() >= updated.create_time.ToMicroseconds()
    priced = (
        await mesh.catalog_stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(
                    name="products/mug", price=Money(currency_code="USD", amount_minor=5)
                ),
                update_mask=FieldMask(paths=["price"]),
            )
        )
    ).product
    assert (priced.price.currency_code, priced.price.amount_minor) == ("USD", 5)


async def test_update_honours_the_mask_and_only_it(mesh: Shop) -> None:
    created = (
        await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    ).product
    stub = mesh.catalog_stub

    async def update(change: pb.Product, *paths: str) -> pb.Product:
        request = pb.UpdateProductRequest(product=change, update_mask=FieldMask(paths=paths))
        return (await stub.UpdateProduct(request)).product

    # Only the masked part of a price changes, and only it is validated.
    amount = await update(
        pb.Product(name="products/mug", price=Money(amount_minor=900)), "price.amount_minor"
    )
    assert (amount.price.currency_code, amount.price.amount_minor) == ("EUR", 900)
    currency = await update(
        pb.Product(name="products/mug", price=Money(currency_code="USD")), "price.currency_code"
    )
    assert (currency.price.currency_code, currency.price.amount_minor) == ("USD", 900)
    # active=false is a value worth sending: the mask says so.
    assert not (await update(pb.Product(name="products/mug"), "active")).active
    # Output-only fields in a mask change nothing and are no error (AIP-203); the
    # immutable sku may be named with its own value. Nothing to write: no new update_time.
    before = (await stub.GetProduct(pb.GetProductRequest(name="products/mug"))).product
    same = await update(
        pb.Product(name="products/mug", sku="mug", display_name="ignored"),
        "name",
        "create_time",
        "update_time",
        "sku",
    )
    assert same == before
    assert same.display_name == created.display_name


async def test_update_errors(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    stub = mesh.catalog_stub
    await invalid(stub.UpdateProduct(pb.UpdateProductRequest()), "product")
    for bad in ("bogus", "price.bogus", "display_name.x", ""):
        await invalid(
            stub.UpdateProduct(
                pb.UpdateProductRequest(
                    product=pb.Product(name="products/mug"), update_mask=FieldMask(paths=[bad])
                )
            ),
            "update_mask",
        )
    # sku is immutable: naming it is fine only with the value it has.
    await invalid(
        stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(name="products/mug"), update_mask=FieldMask(paths=["sku"])
            )
        ),
        "product.sku",
    )
    await invalid(
        stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(name="products/mug", display_name=""),
                update_mask=FieldMask(paths=["display_name"]),
            )
        ),
        "product.display_name",
    )
    await invalid(
        stub.UpdateProduct(
            pb.UpdateProductRequest(
                product=pb.Product(name="products/mug", sku="other", display_name="x"),
                update_mask=FieldMask(paths=["display_name"]),
            )
        ),
        "product.sku",
    )
    missing = pb.UpdateProductRequest(
        product=pb.Product(name="products/nope", display_name="x"),
        update_mask=FieldMask(paths=["display_name"]),
    )
    assert await reason(stub.UpdateProduct(missing), NOT_FOUND) == "PRODUCT_NOT_FOUND"
    got = (await stub.GetProduct(pb.GetProductRequest(name="products/mug"))).product
    assert got.display_name == "Mug"


async def test_delete(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product()))
    await mesh.catalog_stub.DeleteProduct(pb.DeleteProductRequest(name="products/mug"))
    await reason(mesh.catalog_stub.GetProduct(pb.GetProductRequest(name="products/mug")), NOT_FOUND)
    await reason(
        mesh.catalog_stub.DeleteProduct(pb.DeleteProductRequest(name="products/mug")), NOT_FOUND
    )
    await invalid(
        mesh.catalog_stub.DeleteProduct(pb.DeleteProductRequest(name="products/")), "name"
    )


async def test_oversized_message_is_refused_and_nothing_written(mesh: Shop) -> None:
    huge = product(description="x" * (5 * 1024 * 1024))
    error = await reason_or_code(
        mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=huge))
    )
    assert error == grpc.StatusCode.RESOURCE_EXHAUSTED
    listed = await mesh.catalog_stub.ListProducts(pb.ListProductsRequest())
    assert list(listed.products) == []


async def reason_or_code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    raise AssertionError("the call succeeded")


async def test_batch_get_keeps_the_order_asked_and_repeats(mesh: Shop) -> None:
    for sku in ("a", "b", "c"):
        await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product(sku)))
    names = ["products/c", "products/a", "products/c"]
    got = await mesh.catalog_stub.BatchGetProducts(pb.BatchGetProductsRequest(names=names))
    assert [p.name for p in got.products] == names


async def test_batch_get_is_all_or_nothing_and_names_the_missing(mesh: Shop) -> None:
    await mesh.catalog_stub.CreateProduct(pb.CreateProductRequest(product=product("a")))
    request = pb.BatchGetProductsRequest(names=["products/a", "products/zz", "products/b"])
    error = await rpc_error(mesh.catalog_stub.BatchGetProducts(request), NOT_FOUND)
    info, _ = details(error)
    assert info is not None and info.reason == "PRODUCTS_NOT_FOUND"
    assert info.metadata["skus"] == "b,zz"


async def test_batch_get_refuses_bad_input_naming_each_field(mesh: Shop) -> None:
    stub = mesh.catalog_stub
    await invalid(stub.BatchGetProducts(pb.BatchGetProductsRequest()), "names")
    too_many = [f"products/p{i}" for i in range(1001)]
    await invalid(stub.BatchGetProducts(pb.BatchGetProductsRequest(names=too_many)), "names")
    hostile = ["products/ok", "orders/x", "products/../etc", "", "products/" + "x" * 100]
    await invalid(
        stub.BatchGetProducts(pb.BatchGetProductsRequest(names=hostile)),
        "names[1]",
        "names[2]",
        "names[3]",
        "names[4]",
    )
