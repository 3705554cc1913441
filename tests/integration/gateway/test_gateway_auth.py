"""Bearer tokens at the gateway, against a real JWKS server on loopback.

The hostile-token corpus: each token a forger or a broken client would send
gets a 401 with a JSON Status and the RFC 6750 challenge, never a 500 and never
a call to the backend.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway import Gateway, LocalChannelProvider, Settings, create_app
from gateway.auth import AuthError, JwksCache, JwtSettings, Verifier
from gateway.docs import docs_assets
from mesh.issuer import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer, serve_jwks
from mesh.jwks_server import JwksServer, start_jwks_server
from tests.gateway_support.echo import SERVICE

ECHO = {"echo": SERVICE}


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path / "issuer")


@pytest.fixture(scope="module")
def rogue() -> rsa.RSAPrivateKey:
    """A key the issuer never published: what a forger signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def jwks(issuer: LocalIssuer) -> AsyncIterator[JwksServer]:
    server = await serve_jwks(issuer)
    yield server
    await server.close()


def jwt_settings(url: str, **overrides: Any) -> JwtSettings:
    values: dict[str, Any] = {
        "issuer": LOCAL_ISSUER,
        "jwks_url": url,
        "audience": LOCAL_AUDIENCE,
        "leeway": 5.0,
        "jwks_min_refetch": 1.0,
        **overrides,
    }
    return JwtSettings(**values)


@pytest.fixture
def make_auth_app(provider: LocalChannelProvider, jwks: JwksServer) -> Callable[..., Gateway]:
    def make(jwt_overrides: dict[str, Any] | None = None, **overrides: Any) -> Gateway:
        settings = Settings(
            access_log=False,
            jwt=jwt_settings(jwks.url, **(jwt_overrides or {})),
            **{"rate_limit_rps": 0.0, **overrides},
        )
        return create_app(provider, services=ECHO, settings=settings, generated_package=None)

    return make


@pytest.fixture
async def app(make_auth_app: Callable[..., Gateway]) -> AsyncIterator[Gateway]:
    gateway = make_auth_app()
    await gateway.guard.start()
    yield gateway
    await gateway.guard.stop()


@pytest.fixture
async def client(app: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "scope": "echo.write",
        **overrides,
    }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_challenge(r: httpx.Response, reason: str, error: str = "invalid_token") -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["code"] == 16  # UNAUTHENTICATED
    infos = [d for d in body["details"] if d["@type"].endswith("ErrorInfo")]
    assert infos and infos[0]["reason"] == reason, body
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="shop"')
    assert f'error="{error}"' in challenge


async def test_a_valid_token_reaches_the_backend_as_a_principal(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    r = await client.post(
        "/v1/protected", json={}, headers=bearer(issuer.mint("alice", ["echo.write"]))
    )
    assert r.status_code == 200, r.text
    metadata = r.json()["metadata"]
    assert metadata["x-mesh-principal"] == "user:alice"
    assert metadata["x-mesh-scopes"] == "echo.write"
    assert "authorization" not in metadata  # the token stays at the gateway


async def test_no_token_on_a_protected_route_is_a_401_without_an_error_code(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/protected", json={})
    assert r.status_code == 401
    assert r.json()["code"] == 16
    # RFC 6750 3.1: a request without credentials gets the challenge, no error code.
    assert r.headers["www-authenticate"] == 'Bearer realm="shop"'


async def test_a_token_without_the_scope_is_a_403(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    r = await client.post("/v1/protected", json={}, headers=bearer(issuer.mint("alice", ["other"])))
    assert r.status_code == 403
    assert r.json()["code"] == 7  # PERMISSION_DENIED
    challenge = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="echo.write"' in challenge


async def test_anonymous_routes_need_no_token_but_check_one_that_is_sent(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    r = await client.post("/v1/echo", json={})
    assert r.status_code == 200
    assert r.json()["metadata"]["x-mesh-principal"] == "anonymous"
    signed_in = await client.post("/v1/echo", json={}, headers=bearer(issuer.mint("bob", [])))
    assert signed_in.json()["metadata"]["x-mesh-principal"] == "user:bob"
    bad = await client.post("/v1/echo", json={}, headers=bearer("not-a-jwt"))
    assert_challenge(bad, "TOKEN_MALFORMED")


def _hostile(issuer: LocalIssuer, rogue: rsa.RSAPrivateKey) -> dict[str, tuple[str, str]]:
    """name -> (token, expected ErrorInfo reason)."""
    now = int(time.time())
    public = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = b64(json.dumps(claims()).encode())
    header_none = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.kid}).encode())
    header_hs = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}).encode())
    # The classic confusion attack: the public key (which anyone has) as an HMAC secret.
    signature = hmac.new(public_pem, f"{header_hs}.{payload}".encode(), hashlib.sha256).digest()
    good = issuer.sign(claims())

    def without(name: str) -> dict[str, Any]:
        return {k: v for k, v in claims().items() if k != name}

    return {
        "expired": (
            issuer.sign(claims(exp=now - 60, iat=now - 120, nbf=now - 120)),
            "TOKEN_EXPIRED",
        ),
        "not yet valid": (issuer.sign(claims(nbf=now + 600)), "TOKEN_NOT_YET_VALID"),
        "wrong audience": (issuer.sign(claims(aud="someone-else")), "TOKEN_AUDIENCE"),
        "no audience": (issuer.sign(without("aud")), "TOKEN_AUDIENCE"),
        "wrong issuer": (issuer.sign(claims(iss="https://evil.example")), "TOKEN_ISSUER"),
        "no expiry": (issuer.sign(without("exp")), "TOKEN_INVALID"),
        "alg none": (f"{header_none}.{payload}.", "TOKEN_ALGORITHM"),
        "HS256 with the public key": (f"{header_hs}.{payload}.{b64(signature)}", "TOKEN_ALGORITHM"),
        "unknown kid": (
            jwt.encode(claims(), rogue, algorithm="RS256", headers={"kid": "no-such-key"}),
            "TOKEN_KEY_UNKNOWN",
        ),
        "signed by another key": (
            jwt.encode(claims(), rogue, algorithm="RS256", headers={"kid": issuer.kid}),
            "TOKEN_SIGNATURE",
        ),
        "truncated": (good[: good.rindex(".") + 201], "TOKEN_SIGNATURE"),
        "truncated mid-character": (good[: len(good) - 3], "TOKEN_MALFORMED"),
        "signature dropped": (good.rsplit(".", 1)[0], "TOKEN_MALFORMED"),
        "non-JSON header": (f"{b64(b'not json')}.{payload}.{b64(b'sig')}", "TOKEN_MALFORMED"),
        "huge": (good + "A" * 20_000, "TOKEN_TOO_LARGE"),
        "empty subject": (issuer.sign(claims(sub="")), "TOKEN_SUBJECT"),
    }


HOSTILE = [
    "expired",
    "not yet valid",
    "wrong audience",
    "no audience",
    "wrong issuer",
    "no expiry",
    "alg none",
    "HS256 with the public key",
    "unknown kid",
    "signed by another key",
    "truncated",
    "signature dropped",
    "non-JSON header",
    "huge",
    "empty subject",
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_tokens_get_the_right_401(
    client: httpx.AsyncClient, issuer: LocalIssuer, rogue: rsa.RSAPrivateKey, name: str
) -> None:
    token, reason = _hostile(issuer, rogue)[name]
    r = await client.post("/v1/protected", json={}, headers=bearer(token))
    assert_challenge(r, reason)
    assert "metadata" not in r.json()  # the backend never saw it


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer a.b.c"), (b"authorization", b"Bearer a.b.c")],
        [(b"authorization", b"Basic YWxpY2U6cHc=")],
        [(b"authorization", b"Bearer")],
        [(b"authorization", b"Bearer two words")],
        [(b"authorization", "Bearer tok\u00e9n".encode())],
    ],
    ids=["two headers", "basic", "no token", "spaces", "non-ascii"],
)
async def test_malformed_authorization_is_an_invalid_request(
    client: httpx.AsyncClient, headers: list[tuple[bytes, bytes]]
) -> None:
    r = await client.post("/v1/protected", json={}, headers=httpx.Headers(headers))
    assert_challenge(r, "TOKEN_MALFORMED", error="invalid_request")


async def test_principal_metadata_from_outside_is_dropped(
    client: httpx.AsyncClient, issuer: LocalIssuer
) -> None:
    forged = {
        "grpc-metadata-x-mesh-principal": "user:admin",
        "grpc-metadata-x-mesh-scopes": "echo.write orders.admin",
    }
    anonymous = await client.post("/v1/echo", json={}, headers=forged)
    assert anonymous.json()["metadata"]["x-mesh-principal"] == "anonymous"
    assert "x-mesh-scopes" not in anonymous.json()["metadata"]
    # With no token, the forged scopes open nothing.
    assert (await client.post("/v1/protected", json={}, headers=forged)).status_code == 401
    alice = await client.post(
        "/v1/echo", json={}, headers={**forged, **bearer(issuer.mint("alice", []))}
    )
    assert alice.json()["metadata"]["x-mesh-principal"] == "user:alice"
    assert "x-mesh-scopes" not in alice.json()["metadata"]


async def test_internal_rpcs_have_no_route_and_no_openapi_entry(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/internal", json={})
    assert r.status_code == 404
    assert r.json()["message"] == "no route for /v1/internal"  # like any unknown path
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/internal" not in spec["paths"]
    assert "Internal" not in json.dumps(spec["paths"])
    assert "bearer" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/v1/protected"]["post"]["security"] == [{"bearer": ["echo.write"]}]
    assert spec["paths"]["/v1/echo"]["post"]["security"] == [{}, {"bearer": []}]


async def test_the_cached_key_keeps_working_while_the_jwks_is_down(
    make_auth_app: Callable[..., Gateway], jwks: JwksServer, issuer: LocalIssuer, tmp_path: Path
) -> None:
    app = make_auth_app()
    await app.guard.start()
    keys = app.guard.keys
    assert keys is not None and keys.keys
    await jwks.close()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://g"
        ) as c:
            assert await keys.refresh() is False  # down: the refresh fails...
            ok = await c.post(
                "/v1/protected", json={}, headers=bearer(issuer.mint("a", ["echo.write"]))
            )
            assert ok.status_code == 200  # ...and the cached key still verifies
            other = LocalIssuer.load_or_create(tmp_path / "rotated")
            new_key = await c.post(
                "/v1/protected", json={}, headers=bearer(other.mint("a", ["echo.write"]))
            )
            assert_challenge(new_key, "TOKEN_KEY_UNKNOWN")  # a 401, not a 500
    finally:
        await app.guard.stop()


async def test_unknown_kids_refetch_at_most_once_per_interval(
    make_auth_app: Callable[..., Gateway], rogue: rsa.RSAPrivateKey
) -> None:
    app = make_auth_app(jwt_overrides={"jwks_min_refetch": 60.0, "jwks_refresh": 600.0})
    await app.guard.start()
    keys = app.guard.keys
    assert keys is not None
    before = keys.fetches
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://g"
        ) as c:
            for n in range(20):
                token = jwt.encode(
                    claims(), rogue, algorithm="RS256", headers={"kid": f"made-up-{n}"}
                )
                assert (
                    await c.post("/v1/protected", json={}, headers=bearer(token))
                ).status_code == 401
    finally:
        await app.guard.stop()
    # The start-up fetch happened just now, so made-up kids triggered none.
    assert keys.fetches == before


async def test_a_rotated_key_is_fetched_when_a_token_names_it(tmp_path: Path) -> None:
    """The issuer publishes a new key: the first token signed with it makes the
    verifier refetch (once the rate limit allows), and it verifies."""
    old = LocalIssuer.load_or_create(tmp_path / "old")
    new = LocalIssuer.load_or_create(tmp_path / "new")
    server = await start_jwks_server(old.jwks())
    now = [1000.0]
    settings = jwt_settings(server.url, jwks_min_refetch=30.0)
    keys = JwksCache(settings, clock=lambda: now[0])
    verifier = Verifier(settings, keys)
    try:
        await keys.refresh()
        server.replace({"keys": [*old.jwks()["keys"], *new.jwks()["keys"]]})
        with pytest.raises(AuthError, match="unknown key"):
            await verifier.verify(new.mint("alice", []))  # too soon after the last fetch
        now[0] += 31
        principal = await verifier.verify(new.mint("alice", []))
        assert principal.subject == "alice"
        assert (await verifier.verify(old.mint("bob", []))).subject == "bob"
    finally:
        await server.close()


async def test_cognito_access_tokens_use_client_id_and_prefixed_scopes(
    make_auth_app: Callable[..., Gateway], issuer: LocalIssuer
) -> None:
    app = make_auth_app(jwt_overrides={"scope_prefix": "shop/"})
    token = issuer.sign(
        {
            **{k: v for k, v in claims().items() if k != "aud"},
            "client_id": LOCAL_AUDIENCE,
            "token_use": "access",
            "scope": "shop/echo.write openid",
        }
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c:
        r = await c.post("/v1/protected", json={}, headers=bearer(token))
        wrong_client = issuer.sign(
            {**{k: v for k, v in claims().items() if k != "aud"}, "client_id": "another-app"}
        )
        denied = await c.post("/v1/protected", json={}, headers=bearer(wrong_client))
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["x-mesh-scopes"] == "echo.write"  # prefix gone, openid dropped
    assert_challenge(denied, "TOKEN_AUDIENCE")


async def test_a_burst_gets_429_with_retry_after_and_other_clients_are_unaffected(
    make_auth_app: Callable[..., Gateway], issuer: LocalIssuer
) -> None:
    app = make_auth_app(rate_limit_rps=0.5, rate_limit_burst=3)
    alice, bob = bearer(issuer.mint("alice", [])), bearer(issuer.mint("bob", []))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c:
        codes = [(await c.post("/v1/echo", json={}, headers=alice)).status_code for _ in range(5)]
        limited = await c.post("/v1/echo", json={}, headers=alice)
        other = await c.post("/v1/echo", json={}, headers=bob)
        anonymous = await c.post("/v1/echo", json={})
    assert codes == [200, 200, 200, 429, 429]
    assert limited.status_code == 429
    assert limited.json()["code"] == 8  # RESOURCE_EXHAUSTED
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert other.status_code == 200 and anonymous.status_code == 200


async def test_the_api_description_stays_anonymous_while_the_guard_holds(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/openapi.json", "/docs", "/docs/" + docs_assets().bundle):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert "www-authenticate" not in r.headers
    # The same gateway still wants a token where the contract says so.
    r = await client.post("/v1/protected", json={})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
