"""The catalog's store port: products by sku, listed by sku ascending.

Two adapters implement it and pass one contract suite
(``tests/integration/services/test_catalog_store_contract.py``):

- :class:`services.catalog.sql.SqlCatalogStore`: PostgreSQL (SQLite locally);
- :class:`services.catalog.dynamodb.DynamoCatalogStore`: a DynamoDB table.

Both raise the same errors (PRODUCT_EXISTS, PRODUCT_NOT_FOUND, UNAVAILABLE
naming the dependency) and keep times as integer microseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from mesh.errors import AlreadyExists, NotFound

__all__ = ["CatalogStore", "ProductRecord", "already_exists", "not_found"]


@dataclass(frozen=True, slots=True)
class ProductRecord:
    sku: str
    display_name: str
    description: str
    currency_code: str
    amount_minor: int
    active: bool
    create_time: int = 0
    update_time: int = 0


def not_found(sku: str) -> NotFound:
    return NotFound(f"product {sku!r} not found", reason="PRODUCT_NOT_FOUND", metadata={"sku": sku})


def already_exists(sku: str) -> AlreadyExists:
    return AlreadyExists(
        f"product {sku!r} already exists", reason="PRODUCT_EXISTS", metadata={"sku": sku}
    )


class CatalogStore(Protocol):
    async def create(self, record: ProductRecord) -> ProductRecord:
        """Store a new product, stamping both times; ALREADY_EXISTS if the sku is taken."""
        ...

    async def get(self, sku: str) -> ProductRecord:
        """The product; NOT_FOUND (PRODUCT_NOT_FOUND) if there is none."""
        ...

    async def get_many(self, skus: Iterable[str]) -> dict[str, ProductRecord]:
        """The products among ``skus`` that exist, by sku."""
        ...

    async def page(
        self, *, after: str | None, limit: int, active: bool | None
    ) -> tuple[list[ProductRecord], bool]:
        """Up to ``limit`` products with sku > ``after`` (and ``active``, if given), by sku
        ascending, and whether more follow."""
        ...

    async def update(self, sku: str, changes: dict[str, Any]) -> ProductRecord:
        """Apply ``changes`` (field: value) and stamp update_time; NOT_FOUND if absent.
        Concurrent updates never lose one another's fields."""
        ...

    async def delete(self, sku: str) -> None:
        """Remove the product; NOT_FOUND if absent."""
        ...
