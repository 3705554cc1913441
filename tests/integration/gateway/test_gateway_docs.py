"""/docs: Swagger UI from the gateway's own origin, under a strict CSP, anonymous like /openapi.json."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from gateway import Gateway
from gateway.docs import INITIALIZER, docs_assets, page_headers


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []  # inline script or style bodies, style attributes
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if "style" in found or any(k.startswith("on") for k in found):
            self.inline.append(f"{tag} {found}")
        if tag == "script":
            self.scripts.append(found)
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._in is not None and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _policy(headers: httpx.Headers) -> dict[str, list[str]]:
    directives = [d.split() for d in headers["content-security-policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


async def test_the_page_loads_only_same_origin_files(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    page = _parse(r.text)
    assert page.inline == []
    assert [s.get("src") for s in page.scripts] == [
        f"docs/{docs_assets().bundle}",
        f"docs/{docs_assets().initializer}",
    ]
    assert page.urls, "the page links no asset"
    for url in page.urls:
        # Relative to the page: the same origin (and path prefix) as /docs.
        assert "//" not in url and not url.startswith("/"), url
        assert ":" not in url, url
    assert "http://" not in r.text and "https://" not in r.text


async def test_the_page_is_served_under_a_strict_policy(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    policy = _policy(r.headers)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "unsafe" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-cache"


async def test_every_linked_file_is_served_cacheable_for_good(client: httpx.AsyncClient) -> None:
    page = _parse((await client.get("/docs")).text)
    for url in page.urls:
        if url == "openapi.json":
            continue
        r = await client.get("/" + url)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert r.headers["x-content-type-options"] == "nosniff"
        kind = r.headers["content-type"]
        assert kind.split(";")[0] in ("text/javascript", "text/css", "image/png"), url
        # The name holds a hash of the content.
        assert url.rsplit("/", 1)[1].count(".") == 2, url


async def test_text_assets_are_gzipped_when_the_client_takes_it(
    client: httpx.AsyncClient,
) -> None:
    bundle = "/docs/" + docs_assets().bundle
    plain = await client.get(bundle, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "accept-encoding"
    assert b"SwaggerUIBundle" in plain.content
    for accept in ("gzip", "br, gzip;q=0.5", "deflate, GZIP"):
        packed = await client.get(bundle, headers={"accept-encoding": accept})
        assert packed.headers["content-encoding"] == "gzip", accept
        assert int(packed.headers["content-length"]) < len(plain.content) / 2
        assert packed.content == plain.content  # httpx decoded it
    refused = await client.get(bundle, headers={"accept-encoding": "gzip;q=0, br"})
    assert "content-encoding" not in refused.headers


async def test_the_initializer_reads_our_document_and_keeps_no_token(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/docs/" + docs_assets().initializer)
    assert r.content == INITIALIZER
    text = r.text
    assert '"openapi.json"' in text
    assert "validatorUrl: null" in text  # the online validator would call out
    assert "persistAuthorization: false" in text
    assert "usePkceWithAuthorizationCodeGrant: true" in text
    assert "http" not in text.replace("window.location.href", "")


async def test_the_oauth_redirect_page_keeps_its_fixed_name(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs/oauth2-redirect.html")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    assert _policy(r.headers)["script-src"] == ["'self'"]
    page = _parse(r.text)
    assert page.inline == []
    assert [s.get("src") for s in page.scripts] == ["oauth2-redirect.js"]
    assert (await client.get("/docs/oauth2-redirect.js")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/docs/",
        "/docs/nope.js",
        "/docs/swagger-ui-bundle.js",
        "/docs/%2e%2e/pyproject.toml",
        "/docs//etc/passwd",
        "/docs/index.html",
    ],
)
async def test_nothing_else_is_served_under_docs(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404
    assert r.json()["code"] == 5


async def test_only_reads(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE"):
        r = await client.request(method, "/docs/" + docs_assets().bundle)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET"


async def test_an_oauth_token_endpoint_may_be_called_from_the_page(
    make_app: Callable[..., Gateway],
) -> None:
    app = make_app(
        oauth_token_url="https://auth.example.test/oauth2/token",
        oauth_authorize_url="https://auth.example.test/oauth2/authorize",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as c:
        r = await c.get("/docs")
    assert _policy(r.headers)["connect-src"] == ["'self'", "https://auth.example.test"]
    spec: dict[str, Any] = app.openapi
    assert "oauth2" in spec["components"]["securitySchemes"]


def test_a_url_that_is_no_origin_adds_nothing() -> None:
    headers = dict(page_headers(("not a url", "ftp://x.test/a", "")))
    assert b"connect-src 'self';" in headers[b"content-security-policy"]


def test_the_bundled_swagger_ui_reads_openapi_3_1() -> None:
    major = int(docs_assets().version.split(".")[0])
    assert major >= 5, docs_assets().version
    bundle = docs_assets().by_name[docs_assets().bundle].body
    assert b"sourceMappingURL" not in bundle[-300:]
    assert gzip.decompress(docs_assets().by_name[docs_assets().bundle].compress()) == bundle
