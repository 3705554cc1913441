"""CatalogService: validation and mapping between messages and the store."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from grpc import aio

from mesh.errors import FieldViolation, InvalidArgument, NotFound
from mesh.paging import PageTokens, page_size
from mesh.timeutil import to_timestamp
from mesh.validation import SKU_PATTERN, Violations, parse_name, shorten
from services.catalog.port import CatalogStore, ProductRecord
from shop.catalog.v1 import catalog_pb2 as pb
from shop.catalog.v1 import catalog_pb2_grpc as pb_grpc
from shop.type.v1 import money_pb2

Context = aio.ServicerContext[Any, Any]

CURRENCY = re.compile(r"^[A-Z]{3}\Z")
MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 2000
MAX_AMOUNT = 10**12
# Enough for the largest order (100 lines) and a page of a cart, small enough for one query.
MAX_BATCH = 1000
MUTABLE_FIELDS = ("display_name", "description", "price", "active")
# What an update mask may name: the mutable fields and the parts of a price.
UPDATABLE = frozenset({*MUTABLE_FIELDS, "price.currency_code", "price.amount_minor"})
# Output only (AIP-203): named in a mask, they change nothing and are no error.
IGNORED = frozenset({"name", "create_time", "update_time"})


def product_message(record: ProductRecord) -> pb.Product:
    return pb.Product(
        name=f"products/{record.sku}",
        sku=record.sku,
        display_name=record.display_name,
        description=record.description,
        price=money_pb2.Money(currency_code=record.currency_code, amount_minor=record.amount_minor),
        active=record.active,
        create_time=to_timestamp(record.create_time),
        update_time=to_timestamp(record.update_time),
    )


def _check_fields(product: pb.Product, fields: Iterable[str], v: Violations) -> None:
    """Validate only ``fields`` (mask paths: ``price`` or one of its parts)."""
    fields = frozenset(fields)
    if "display_name" in fields:
        v.require(
            len(product.display_name.strip()) > 0 and len(product.display_name) <= MAX_DISPLAY_NAME,
            "product.display_name",
            f"must be 1-{MAX_DISPLAY_NAME} characters, not blank",
        )
    if "description" in fields:
        v.require(
            len(product.description) <= MAX_DESCRIPTION,
            "product.description",
            f"must be at most {MAX_DESCRIPTION} characters",
        )
    if "price" in fields and not product.HasField("price"):
        v.add("product.price", "is required")
        return
    if fields & {"price", "price.currency_code"}:
        v.require(
            bool(CURRENCY.match(product.price.currency_code)),
            "product.price.currency_code",
            "must be an ISO 4217 code such as EUR",
        )
    if fields & {"price", "price.amount_minor"}:
        v.require(
            0 <= product.price.amount_minor <= MAX_AMOUNT,
            "product.price.amount_minor",
            f"must be in 0..{MAX_AMOUNT}",
        )


def _changes(product: pb.Product, paths: frozenset[str]) -> dict[str, Any]:
    """The store's columns that ``paths`` (checked mask paths) change, with their values."""
    changes: dict[str, Any] = {}
    if "display_name" in paths:
        changes["display_name"] = product.display_name
    if "description" in paths:
        changes["description"] = product.description
    if paths & {"price", "price.currency_code"}:
        changes["currency_code"] = product.price.currency_code
    if paths & {"price", "price.amount_minor"}:
        changes["amount_minor"] = product.price.amount_minor
    if "active" in paths:
        changes["active"] = product.active
    return changes


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    def __init__(self, store: CatalogStore, tokens: PageTokens) -> None:
        self.store = store
        self.tokens = tokens

    async def CreateProduct(
        self, request: pb.CreateProductRequest, context: Context
    ) -> pb.CreateProductResponse:
        v = Violations()
        if not request.HasField("product"):
            v.add("product", "is required")
            v.check()
        product = request.product
        v.matches(SKU_PATTERN, product.sku, "product.sku", "sku")
        _check_fields(product, ("display_name", "description", "price"), v)
        v.check("invalid product")
        record = await self.store.create(
            ProductRecord(
                sku=product.sku,
                display_name=product.display_name,
                description=product.description,
                currency_code=product.price.currency_code,
                amount_minor=product.price.amount_minor,
                active=product.active,
            )
        )
        return pb.CreateProductResponse(product=product_message(record))

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        sku = parse_name(request.name, "products", SKU_PATTERN)
        return pb.GetProductResponse(product=product_message(await self.store.get(sku)))

    async def BatchGetProducts(
        self, request: pb.BatchGetProductsRequest, context: Context
    ) -> pb.BatchGetProductsResponse:
        names = list(request.names)
        if not 1 <= len(names) <= MAX_BATCH:
            raise InvalidArgument(
                f"ask for 1 to {MAX_BATCH} products",
                violations=[FieldViolation("names", f"1 to {MAX_BATCH} names")],
            )
        v = Violations()
        skus: list[str] = []
        for index, name in enumerate(names):
            try:
                skus.append(parse_name(name, "products", SKU_PATTERN, f"names[{index}]"))
            except InvalidArgument as error:
                v.items.extend(error.violations)
        v.check("invalid product names")
        found = await self.store.get_many(skus)
        missing = sorted({sku for sku in skus if sku not in found})
        if missing:
            raise NotFound(
                f"{len(missing)} product(s) not found",
                reason="PRODUCTS_NOT_FOUND",
                # Callers (orders) map these back to their own fields.
                metadata={"skus": ",".join(missing)},
            )
        return pb.BatchGetProductsResponse(products=[product_message(found[s]) for s in skus])

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        limit = page_size(request.page_size)
        active = request.active if request.HasField("active") else None
        # The cursor is the last sku returned; a store rebuilds its own start key from it
        # (DynamoDB's ExclusiveStartKey), so only a well-formed sku gets that far.
        after = self.tokens.decode(
            request.page_token,
            {"active": active},
            valid=lambda c: isinstance(c, str) and SKU_PATTERN.match(c) is not None,
        )
        records, more = await self.store.page(after=after, limit=limit, active=active)
        token = self.tokens.encode(records[-1].sku, {"active": active}) if more and records else ""
        return pb.ListProductsResponse(
            products=[product_message(r) for r in records], next_page_token=token
        )

    async def UpdateProduct(
        self, request: pb.UpdateProductRequest, context: Context
    ) -> pb.UpdateProductResponse:
        if not request.HasField("product"):
            raise InvalidArgument(
                "product is required", violations=[FieldViolation("product", "is required")]
            )
        sku = parse_name(request.product.name, "products", SKU_PATTERN, field="product.name")
        given = tuple(request.update_mask.paths)
        v = Violations()
        for path in given:
            v.require(
                path in UPDATABLE or path in IGNORED or path == "sku",
                "update_mask",
                f"{shorten(path)!r} is not a field of Product that can be named "
                f"(updatable: {', '.join(MUTABLE_FIELDS)})",
            )
        v.check("invalid update_mask")
        # AIP-203: output-only fields named in a mask are ignored, an immutable one
        # only has to keep its value.
        paths = (
            frozenset(p for p in given if p in UPDATABLE) if given else frozenset(MUTABLE_FIELDS)
        )
        _check_fields(request.product, paths, v)
        if (request.product.sku or "sku" in given) and request.product.sku != sku:
            v.add("product.sku", "is immutable and must match the name")
        v.check("invalid product")
        changes = _changes(request.product, paths)
        if not changes:
            # Nothing to change (the mask named only ignored fields): no write, no new update_time.
            return pb.UpdateProductResponse(product=product_message(await self.store.get(sku)))
        record = await self.store.update(sku, changes)
        return pb.UpdateProductResponse(product=product_message(record))

    async def DeleteProduct(
        self, request: pb.DeleteProductRequest, context: Context
    ) -> pb.DeleteProductResponse:
        sku = parse_name(request.name, "products", SKU_PATTERN)
        await self.store.delete(sku)
        return pb.DeleteProductResponse()
