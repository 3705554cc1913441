"""PATCH /v1/products/{sku} with some fields: the real gateway, the real catalog, a real token.

The catalog runs on SQLite behind the gateway (JWT verification against the
local issuer), so the test sees what a storefront's edit form would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import LocalChannelProvider, Settings, create_app
from gateway.auth import JwtSettings
from mesh.issuer import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer, serve_jwks
from tests.support.mesh import db_url_for, serve

MUG = {
    "sku": "mug",
    "displayName": "Mug",
    "description": "Holds coffee",
    "price": {"currencyCode": "EUR", "amountMinor": "1200"},
    "active": True,
}


@dataclass
class Storefront:
    client: httpx.AsyncClient
    admin: dict[str, str]
    reader: dict[str, str]


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Storefront]:
    issuer = LocalIssuer.load_or_create(tmp_path / "issuer")
    jwks = await serve_jwks(issuer)
    try:
        async with serve("catalog", db_url_for("sqlite", tmp_path, "catalog", None)) as catalog:
            provider = LocalChannelProvider({"catalog": catalog.server.port})
            settings = Settings(
                access_log=False,
                rate_limit_rps=0.0,
                jwt=JwtSettings(issuer=LOCAL_ISSUER, jwks_url=jwks.url, audience=LOCAL_AUDIENCE),
            )
            app = create_app(
                provider, services={"catalog": "shop.catalog.v1.CatalogService"}, settings=settings
            )
            await app.guard.start()
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://gateway", timeout=10
                ) as client:
                    admin = {"Authorization": f"Bearer {issuer.mint('owner', ['catalog.write'])}"}
                    reader = {"Authorization": f"Bearer {issuer.mint('alice', ['orders.read'])}"}
                    r = await client.post("/v1/products", json=MUG, headers=admin)
                    assert r.status_code == 200, r.text
                    yield Storefront(client, admin, reader)
            finally:
                await app.guard.stop()
                await provider.close()
    finally:
        await jwks.close()


async def _patch(shop: Storefront, body: Any, query: str = "") -> httpx.Response:
    return await shop.client.patch(f"/v1/products/mug{query}", json=body, headers=shop.admin)


async def test_one_field_changes_and_the_others_stay(shop: Storefront) -> None:
    r = await _patch(shop, {"displayName": "Big mug"})
    assert r.status_code == 200, r.text
    product = r.json()
    assert product["displayName"] == "Big mug"
    assert product["description"] == "Holds coffee"
    assert product["price"] == {"currencyCode": "EUR", "amountMinor": "1200"}
    assert product["active"] is True
    got = (await shop.client.get("/v1/products/mug")).json()
    assert got == product


async def test_false_and_empty_values_are_updates_too(shop: Storefront) -> None:
    r = await _patch(shop, {"active": False, "description": ""})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["description"]) == (False, "")
    assert r.json()["displayName"] == "Mug"


async def test_a_price_is_one_value(shop: Storefront) -> None:
    r = await _patch(shop, {"price": {"currencyCode": "USD", "amountMinor": 5}})
    assert r.status_code == 200, r.text
    assert r.json()["price"] == {"currencyCode": "USD", "amountMinor": "5"}
    # Half a price is a bad price: the currency is named (and empty), not kept.
    r = await _patch(shop, {"price": {"amountMinor": 7}})
    assert r.status_code == 400
    fields = {v["field"] for d in r.json()["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"product.price.currency_code"}
    # With an explicit mask a part of it can change.
    r = await _patch(shop, {"price": {"amountMinor": 7}}, "?update_mask=price.amountMinor")
    assert r.status_code == 200, r.text
    assert r.json()["price"] == {"currencyCode": "USD", "amountMinor": "7"}


async def test_only_the_named_fields_are_validated(shop: Storefront) -> None:
    r = await _patch(shop, {"displayName": "  "})
    assert r.status_code == 400
    fields = {v["field"] for d in r.json()["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"product.display_name"}  # not "price is required"


async def test_a_resource_sent_back_whole_ignores_its_output_only_fields(
    shop: Storefront,
) -> None:
    got = (await shop.client.get("/v1/products/mug")).json()
    got["displayName"] = "Renamed"
    r = await _patch(shop, got)
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Renamed"
    assert r.json()["createTime"] == got["createTime"]


async def test_an_explicit_mask_wins_over_the_body(shop: Storefront) -> None:
    r = await _patch(shop, {"displayName": "X", "description": "Y"}, "?update_mask=description")
    assert r.status_code == 200, r.text
    assert (r.json()["displayName"], r.json()["description"]) == ("Mug", "Y")


async def test_output_only_paths_in_an_explicit_mask_change_nothing(shop: Storefront) -> None:
    before = (await shop.client.get("/v1/products/mug")).json()
    r = await _patch(
        shop,
        {"displayName": "Renamed", "createTime": "2000-01-01T00:00:00Z"},
        "?update_mask=createTime,name,displayName",
    )
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Renamed"
    assert r.json()["createTime"] == before["createTime"]


async def test_hostile_patches_are_400(shop: Storefront) -> None:
    for body, query in (
        ({"displayName": "x", "bogus": 1}, ""),  # unknown key
        ({"displayName": "x"}, "?update_mask=bogus"),  # unknown path
        ({"displayName": "x"}, "?update_mask=price.bogus"),
        ({"displayName": "x"}, "?update_mask=display_name.deeper"),
        ({"sku": "other"}, ""),  # immutable, changed
        ({"price": None}, ""),  # a price cannot be cleared
        ({"displayName": "x" * 201}, ""),
    ):
        r = await _patch(shop, body, query)
        assert r.status_code == 400, (body, query, r.text)
        assert r.json()["code"] == 3
    assert (await shop.client.get("/v1/products/mug")).json()["displayName"] == "Mug"


async def test_patch_still_needs_its_scope(shop: Storefront) -> None:
    r = await shop.client.patch("/v1/products/mug", json={"displayName": "x"})
    assert r.status_code == 401
    r = await shop.client.patch("/v1/products/mug", json={"displayName": "x"}, headers=shop.reader)
    assert r.status_code == 403
