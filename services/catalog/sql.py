"""The SQL adapter of the catalog port: a products table, keyset pagination on sku."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import reader
from mesh.timeutil import now_us
from services.catalog.models import products
from services.catalog.port import ProductRecord, already_exists, not_found

__all__ = ["SqlCatalogStore"]


def _record(row: Any) -> ProductRecord:
    return ProductRecord(**row._mapping)


class SqlCatalogStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reads = reader(engine)  # one SELECT each: no BEGIN/ROLLBACK round trips

    async def create(self, record: ProductRecord) -> ProductRecord:
        now = now_us()
        record = replace(record, create_time=now, update_time=now)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(products).values(**asdict(record)))
        except IntegrityError:
            raise already_exists(record.sku) from None
        return record

    async def get(self, sku: str) -> ProductRecord:
        async with self.reads.connect() as conn:
            row = (await conn.execute(select(products).where(products.c.sku == sku))).first()
        if row is None:
            raise not_found(sku)
        return _record(row)

    async def get_many(self, skus: Iterable[str]) -> dict[str, ProductRecord]:
        """The products among ``skus`` that exist, by sku (one query)."""
        wanted = sorted(set(skus))
        async with self.reads.connect() as conn:
            rows = (await conn.execute(select(products).where(products.c.sku.in_(wanted)))).all()
        return {row.sku: _record(row) for row in rows}

    async def page(
        self, *, after: str | None, limit: int, active: bool | None
    ) -> tuple[list[ProductRecord], bool]:
        """Up to ``limit`` products with sku > ``after``, and whether more follow."""
        query = select(products).order_by(products.c.sku).limit(limit + 1)
        if after is not None:
            query = query.where(products.c.sku > after)
        if active is not None:
            query = query.where(products.c.active == active)
        async with self.reads.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    async def update(self, sku: str, changes: dict[str, Any]) -> ProductRecord:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(products)
                .where(products.c.sku == sku)
                .values(**changes, update_time=now_us())
            )
            if result.rowcount == 0:
                raise not_found(sku)
            row = (await conn.execute(select(products).where(products.c.sku == sku))).one()
        return _record(row)

    async def delete(self, sku: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(products).where(products.c.sku == sku))
        if result.rowcount == 0:
            raise not_found(sku)
