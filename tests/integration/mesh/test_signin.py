"""The local hosted sign-in: the authorization code flow with PKCE, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from mesh.issuer import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer
from mesh.signin import (
    CALLBACK_PATH,
    MAX_BODY,
    LocalSignIn,
    SignInClient,
    local_signin_env,
    local_users,
    serve_signin,
)

ORIGIN = "http://127.0.0.1:8080"
CLIENT = SignInClient("shop-web-local", ORIGIN)
REDIRECT = ORIGIN + CALLBACK_PATH
CUSTOMER = ["carts.read", "carts.write", "orders.read", "orders.write"]
ADMIN = [*CUSTOMER, "catalog.write", "inventory.write", "orders.admin"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    http: httpx.AsyncClient
    issuer: LocalIssuer
    clock: Clock
    url: str


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[tuple[str, Clock]]:
    # The server runs on a thread of its own, so one serves the whole module.
    clock = Clock()
    app = LocalSignIn(issuer, CLIENT, local_users(CUSTOMER, ADMIN), clock=clock)
    running = asyncio.run(serve_signin(app))
    try:
        yield running.url, clock
    finally:
        asyncio.run(running.close())


@pytest.fixture
async def env(issuer: LocalIssuer, server: tuple[str, Clock]) -> AsyncIterator[Env]:
    url, clock = server
    clock.now += 1000  # codes of earlier tests have lapsed
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Env(http, issuer, clock, url)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, **changes: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CLIENT.client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s-123",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v != "<absent>"}


async def get_code(env: Env, challenge: str, user: str = "alice") -> str:
    answer = await env.http.post(
        "/oauth2/authorize", data={**authorize_params(challenge), "user": user}
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["s-123"]
    return query["code"][0]


def token_form(code: str, verifier: str, /, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT.client_id,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != "<absent>"}


def claims_of(issuer: LocalIssuer, token: str) -> dict[str, Any]:
    (key,) = issuer.jwks()["keys"]
    decoded: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=LOCAL_AUDIENCE,
        issuer=LOCAL_ISSUER,
    )
    return decoded


async def test_a_user_picked_on_the_page_gets_a_token_for_the_verifier(env: Env) -> None:
    verifier, challenge = pkce()
    page = await env.http.get("/oauth2/authorize", params=authorize_params(challenge))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert f"form-action 'self' {ORIGIN}" in page.headers["content-security-policy"]
    assert re.findall(r'name="user" value="(\w+)"', page.text) == ["alice", "bob", "admin"]

    code = await get_code(env, challenge, "alice")
    answer = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = claims_of(env.issuer, body["access_token"])
    assert claims["sub"] == "alice"
    assert claims["scope"].split() == CUSTOMER
    assert claims["client_id"] == CLIENT.client_id


async def test_the_owner_gets_every_scope(env: Env) -> None:
    verifier, challenge = pkce()
    code = await get_code(env, challenge, "admin")
    answer = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert claims_of(env.issuer, answer.json()["access_token"])["scope"].split() == sorted(ADMIN)


@pytest.mark.parametrize(
    "redirect",
    [
        "<absent>",
        "",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/callback?next=x",
        "http://127.0.0.1:9090/callback",
        "http://localhost:8080/callback",
        "https://127.0.0.1:8080/callback",
        "http://evil.example/callback",
        "//evil.example/callback",
        "javascript:alert(1)",
    ],
)
async def test_an_unregistered_redirect_uri_is_refused_without_redirecting(
    env: Env, redirect: str
) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, redirect_uri=redirect)
    shown = await env.http.get("/oauth2/authorize", params=params)
    picked = await env.http.post("/oauth2/authorize", data={**params, "user": "alice"})
    for answer in (shown, picked):
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert "redirect_uri is not registered" in answer.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "other"}, "unknown client_id"),
        ({"client_id": "<absent>"}, "unknown client_id"),
        ({"response_type": "token"}, "response_type must be code"),
        ({"code_challenge_method": "plain"}, "must be S256"),
        ({"code_challenge_method": "<absent>"}, "must be S256"),
        ({"code_challenge": "<absent>"}, "code_challenge must be"),
        ({"code_challenge": "short"}, "code_challenge must be"),
        ({"code_challenge": "a" * 42 + "="}, "code_challenge must be"),
        ({"state": "x" * 513}, "state is longer"),
    ],
)
async def test_a_malformed_authorization_request_is_refused(
    env: Env, change: dict[str, str], message: str
) -> None:
    _, challenge = pkce()
    answer = await env.http.get("/oauth2/authorize", params=authorize_params(challenge, **change))
    assert answer.status_code == 400
    assert message in answer.text


async def test_only_a_listed_user_can_be_picked(env: Env) -> None:
    _, challenge = pkce()
    for user in ("mallory", "", "ALICE", "alice "):
        answer = await env.http.post(
            "/oauth2/authorize", data={**authorize_params(challenge), "user": user}
        )
        assert answer.status_code == 400
        assert "location" not in answer.headers


async def test_the_page_escapes_what_the_request_carries(env: Env) -> None:
    _, challenge = pkce()
    hostile = '"><script>alert(1)</script>'
    page = await env.http.get(
        "/oauth2/authorize", params=authorize_params(challenge, state=hostile)
    )
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&quot;&gt;&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "<absent>"}, "code_verifier is missing"),
        ({"code_verifier": ""}, "code_verifier is missing"),
        ({"code_verifier": "x" * 42}, "code_verifier is missing or malformed"),
        ({"code_verifier": "x" * 129}, "code_verifier is missing or malformed"),
        ({"code_verifier": "y" * 43 + "!"}, "code_verifier is missing or malformed"),
        ({"code_verifier": secrets.token_urlsafe(48)}, "does not match"),
        ({"redirect_uri": ORIGIN + "/other"}, "redirect_uri differs"),
    ],
)
async def test_a_wrong_exchange_gets_nothing_and_spends_the_code(
    env: Env, change: dict[str, str], error: str
) -> None:
    verifier, challenge = pkce()
    code = await get_code(env, challenge)
    answer = await env.http.post("/oauth2/token", data=token_form(code, verifier, **change))
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": answer.json()["error_description"],
    }
    assert error in answer.json()["error_description"]
    # A guesser does not get a second try with the same code.
    again = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_a_replayed_code_is_refused(env: Env) -> None:
    verifier, challenge = pkce()
    code = await get_code(env, challenge)
    first = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert first.status_code == 200
    replay = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert "access_token" not in replay.text


async def test_a_code_lapses(env: Env) -> None:
    verifier, challenge = pkce()
    code = await get_code(env, challenge)
    env.clock.now += 61
    answer = await env.http.post("/oauth2/token", data=token_form(code, verifier))
    assert answer.status_code == 400
    assert "expired" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "<absent>"}, 400, "unsupported_grant_type"),
        ({"client_id": "other"}, 401, "invalid_client"),
        ({"code": "<absent>"}, 400, "invalid_grant"),
        ({"code": "made-up"}, 400, "invalid_grant"),
    ],
)
async def test_a_malformed_token_request_is_refused(
    env: Env, change: dict[str, str], status: int, error: str
) -> None:
    verifier, challenge = pkce()
    code = await get_code(env, challenge)
    answer = await env.http.post("/oauth2/token", data=token_form(code, verifier, **change))
    assert answer.status_code == status
    assert answer.json()["error"] == error


async def test_hostile_bodies_are_refused(env: Env) -> None:
    form = "application/x-www-form-urlencoded"
    cases = [
        ({"content-type": "application/json"}, b'{"grant_type": "authorization_code"}', 415),
        ({"content-type": form}, b"a=" + b"x" * MAX_BODY, 413),
        ({"content-type": form}, "code=\u00e9".encode(), 400),
        ({"content-type": form}, b"code=a&code=b", 400),
        ({"content-type": form}, b"&".join(b"k%d=v" % i for i in range(40)), 400),
    ]
    for headers, body, status in cases:
        answer = await env.http.post("/oauth2/token", content=body, headers=headers)
        assert answer.status_code == status, (body[:40], answer.text)
        assert "access_token" not in answer.text


async def test_other_methods_and_paths(env: Env) -> None:
    assert (await env.http.put("/oauth2/token")).status_code == 405
    assert (await env.http.get("/oauth2/token")).status_code == 405
    assert (await env.http.get("/.well-known/jwks.json")).status_code == 404
    preflight = await env.http.options("/oauth2/token")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


async def test_logout_returns_only_to_the_registered_address(env: Env) -> None:
    ok = await env.http.get(
        "/logout", params={"client_id": CLIENT.client_id, "logout_uri": ORIGIN + "/"}
    )
    assert ok.status_code == 302 and ok.headers["location"] == ORIGIN + "/"
    for uri in ("http://evil.example/", ORIGIN + "/x", ""):
        refused = await env.http.get(
            "/logout", params={"client_id": CLIENT.client_id, "logout_uri": uri}
        )
        assert refused.status_code == 400 and "location" not in refused.headers


async def test_it_listens_on_loopback_only_for_loopback_clients(issuer: LocalIssuer) -> None:
    app = LocalSignIn(issuer, CLIENT, local_users(CUSTOMER, ADMIN))
    with pytest.raises(ValueError, match="loopback only"):
        await serve_signin(app, host="0.0.0.0")
    for origin in (
        "https://127.0.0.1:8080",
        "http://shop.example.com",
        "http://10.0.0.5:8080",
        "http://127.0.0.1:8080/app",
        "127.0.0.1:8080",
    ):
        with pytest.raises(ValueError, match="origin"):
            SignInClient("web", origin)
    with pytest.raises(ValueError, match="client id"):
        SignInClient("", ORIGIN)


async def test_the_gateway_settings_name_its_endpoints(env: Env) -> None:
    settings = local_signin_env(env.url, CLIENT)
    assert settings == {
        "MESH_GATEWAY_OAUTH_AUTHORIZE_URL": env.url + "/oauth2/authorize",
        "MESH_GATEWAY_OAUTH_TOKEN_URL": env.url + "/oauth2/token",
        "MESH_GATEWAY_OAUTH_LOGOUT_URL": env.url + "/logout",
        "MESH_GATEWAY_WEB_CLIENT_ID": "shop-web-local",
    }
