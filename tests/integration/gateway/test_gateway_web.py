"""The storefront served by the gateway: caching, the SPA fallback, the CSP, and the API untouched."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import Gateway, Settings
from gateway.settings import SettingsError
from gateway.web import MAX_TOTAL_BYTES, WebConfigError, WebRoot

INDEX = b'<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head></html>'
SCRIPT = b"console.log('shop');" * 200  # large enough to be compressed
OAUTH = {
    "oauth_authorize_url": "http://127.0.0.1:7001/oauth2/authorize",
    "oauth_token_url": "http://127.0.0.1:7001/oauth2/token",
    "oauth_logout_url": "http://127.0.0.1:7001/logout",
    "web_client_id": "shop-web-local",
}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "favicon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "assets" / "index-abc123.js").write_bytes(SCRIPT)
    (root / "assets" / "index-abc123.css").write_bytes(b"body{color:#111}")
    (root / ".stamp").write_text("build stamp")
    (tmp_path / "secret.txt").write_text("outside the web root")
    (root / "assets" / "link.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
async def web(make_app: Callable[..., Gateway], dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(web_root=str(dist), **OAUTH)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


async def raw_get(app: Gateway, raw_path: bytes, method: str = "GET") -> tuple[int, bytes]:
    """One request with exactly these path bytes, as a server would pass them on."""
    path = raw_path.split(b"?", 1)[0]
    scope = {
        "type": "http",
        "method": method,
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": raw_path.partition(b"?")[2],
        "headers": [],
        "client": ("127.0.0.1", 5000),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def test_hashed_assets_are_immutable_and_index_is_revalidated(
    web: httpx.AsyncClient,
) -> None:
    script = await web.get("/assets/index-abc123.js", headers={"accept-encoding": "identity"})
    assert script.status_code == 200
    assert script.content == SCRIPT
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in script.headers

    for path in ("/", "/index.html"):
        index = await web.get(path)
        assert index.status_code == 200
        assert index.content == INDEX
        assert index.headers["cache-control"] == "no-cache"
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert index.headers["x-frame-options"] == "DENY"
        assert index.headers["referrer-policy"] == "no-referrer"


async def test_html_carries_a_strict_csp_naming_the_token_endpoint(web: httpx.AsyncClient) -> None:
    csp = (await web.get("/")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' http://127.0.0.1:7001"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


async def test_compressed_when_asked_and_revalidated_by_etag(web: httpx.AsyncClient) -> None:
    zipped = await web.get("/assets/index-abc123.js", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "accept-encoding"
    assert zipped.content == SCRIPT  # httpx decoded it
    assert int(zipped.headers["content-length"]) == len(gzip.compress(SCRIPT, 9, mtime=0))
    refused = await web.get("/assets/index-abc123.js", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers

    etag = (await web.get("/")).headers["etag"]
    again = await web.get("/", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    other = await web.get("/", headers={"if-none-match": '"nope"'})
    assert other.status_code == 200


@pytest.mark.parametrize("path", ["/orders/42", "/products/mug", "/callback", "/cart", "/a/b/c/d"])
async def test_app_routes_fall_back_to_index(web: httpx.AsyncClient, path: str) -> None:
    answer = await web.get(path + "?code=x&state=y")
    assert answer.status_code == 200
    assert answer.content == INDEX
    assert answer.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/assets/missing.js", "/assets/nothing", "/robots.txt", "/favicon.ico", "/.stamp"]
)
async def test_missing_files_are_404_not_html(web: httpx.AsyncClient, path: str) -> None:
    answer = await web.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["cache-control"] == "no-store"


async def test_config_json_says_how_to_sign_in(web: httpx.AsyncClient) -> None:
    answer = await web.get("/config.json")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "auth": {
            "authorizeUrl": "http://127.0.0.1:7001/oauth2/authorize",
            "tokenUrl": "http://127.0.0.1:7001/oauth2/token",
            "logoutUrl": "http://127.0.0.1:7001/logout",
            "clientId": "shop-web-local",
            "scopePrefix": "",
        }
    }


async def test_without_sign_in_settings_config_says_so(
    make_app: Callable[..., Gateway], dist: Path
) -> None:
    app = make_app(web_root=str(dist))
    status, body = await raw_get(app, b"/config.json")
    assert status == 200 and json.loads(body) == {"auth": None}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/things/a",
        "/v1/nothing-here",
        "/v1",
        "/v1/",
        "/v2/multi/x",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/docs/anything",
        "/metrics",
    ],
)
async def test_api_and_gateway_paths_are_never_the_webs(
    make_app: Callable[..., Gateway], dist: Path, path: str
) -> None:
    plain = make_app()
    served = make_app(web_root=str(dist), **OAUTH)
    assert not served.web.owns(path)  # type: ignore[union-attr]
    # The same answer with and without the web root, and never the app's page.
    for method in ("GET", "POST"):
        without = await raw_get(plain, path.encode(), method)
        with_web = await raw_get(served, path.encode(), method)
        assert with_web[0] == without[0], path
        assert INDEX not in with_web[1]


@pytest.mark.parametrize(
    "raw",
    [
        b"/../secret.txt",
        b"/assets/../../secret.txt",
        b"/assets/%2e%2e/%2e%2e/secret.txt",
        b"/%2e%2e/secret.txt",
        b"/..%2fsecret.txt",
        b"/assets/..%5c..%5csecret.txt",
        b"/assets/link.txt",
        b"//etc/passwd",
        b"/assets//index-abc123.js/../../secret.txt",
        b"/%00",
        b"/\xff\xfe",
        b"/assets/index-abc123.js%00.html",
    ],
)
async def test_no_path_reaches_outside_the_build(
    make_app: Callable[..., Gateway], dist: Path, raw: bytes
) -> None:
    app = make_app(web_root=str(dist))
    status, body = await raw_get(app, raw)
    assert b"outside the web root" not in body
    assert b"root:" not in body
    assert status in (200, 404)
    if status == 200:
        assert body == INDEX  # a path of the app's, never a file


async def test_other_methods_are_not_allowed(web: httpx.AsyncClient) -> None:
    for method in ("POST", "PUT", "DELETE"):
        answer = await web.request(method, "/")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, HEAD"
    head = await web.head("/assets/index-abc123.js", headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(SCRIPT))


async def test_api_routes_still_answer_with_the_web_root(web: httpx.AsyncClient) -> None:
    answer = await web.get("/v1/things/a")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert (await web.get("/openapi.json")).json()["openapi"].startswith("3.")


def test_a_bad_web_root_stops_the_gateway_naming_the_variable(
    make_app: Callable[..., Gateway], tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=r"MESH_GATEWAY_WEB_ROOT: .*no index\.html"):
        make_app(web_root=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="MESH_GATEWAY_WEB_ROOT"):
        make_app(web_root=str(tmp_path / "empty"))


def test_an_oversized_build_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_bytes(b"x")
    with (tmp_path / "big.bin").open("wb") as big:
        big.truncate(MAX_TOTAL_BYTES + 1)
    with pytest.raises(WebConfigError, match="MB of files"):
        WebRoot(tmp_path, ["v1"], {"auth": None})


def test_a_route_starting_with_a_variable_leaves_no_room(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_bytes(b"x")
    with pytest.raises(WebConfigError, match="starts with a variable"):
        WebRoot(tmp_path, ["*"], {"auth": None})


def test_settings_read_the_web_variables() -> None:
    settings = Settings.from_env(
        {
            "MESH_GATEWAY_AUTH": "none",
            "MESH_GATEWAY_WEB_ROOT": " web/dist ",
            "MESH_GATEWAY_WEB_CLIENT_ID": "shop-web",
            "MESH_GATEWAY_OAUTH_LOGOUT_URL": "https://auth.example.com/logout",
        }
    )
    assert settings.web_root == "web/dist"
    assert settings.web_client_id == "shop-web"
    assert settings.oauth_logout_url == "https://auth.example.com/logout"
    with pytest.raises(SettingsError, match="MESH_GATEWAY_OAUTH_LOGOUT_URL"):
        Settings.from_env({"MESH_GATEWAY_AUTH": "none", "MESH_GATEWAY_OAUTH_LOGOUT_URL": "ftp://x"})
