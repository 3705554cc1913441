"""Auth and rate-limit settings: validated at start, errors name the variable."""

from __future__ import annotations

import pytest

from gateway.ratelimit import RateLimiter, client_address
from gateway.settings import Settings, SettingsError

JWT = {
    "MESH_GATEWAY_JWT_ISSUER": "https://issuer.example",
    "MESH_GATEWAY_JWKS_URL": "https://issuer.example/.well-known/jwks.json",
    "MESH_GATEWAY_JWT_AUDIENCE": "shop-api",
}


def test_auth_is_on_by_default_and_needs_its_issuer() -> None:
    settings = Settings.from_env(JWT)
    assert settings.jwt is not None
    assert settings.jwt.algorithms == ("RS256", "ES256")
    for name in JWT:
        partial = {k: v for k, v in JWT.items() if k != name}
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(partial)


def test_auth_none_accepts_no_tokens() -> None:
    assert Settings.from_env({"MESH_GATEWAY_AUTH": "none"}).jwt is None
    assert Settings().jwt is None  # built in code: no verifier, so no token is ever accepted


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH", "off"),
        ("JWKS_URL", "file:///etc/jwks.json"),
        ("JWKS_URL", "not a url"),
        ("JWT_ALGORITHMS", "none"),
        ("JWT_ALGORITHMS", "HS256"),
        ("JWT_ALGORITHMS", "RS256,HS512"),
        ("JWT_ALGORITHMS", ""),
        ("JWT_LEEWAY_SECONDS", "-1"),
        ("JWT_LEEWAY_SECONDS", "3600"),
        ("JWT_LEEWAY_SECONDS", "soon"),
        ("JWKS_REFRESH_SECONDS", "1"),
        ("JWKS_MIN_REFETCH_SECONDS", "0"),
        ("JWT_CACHE_SIZE", "-5"),
        ("RATE_LIMIT_RPS", "-1"),
        ("RATE_LIMIT_BURST", "0"),
        ("TRUSTED_PROXIES", "11"),
        ("OAUTH_TOKEN_URL", "javascript:alert(1)"),
        ("FORWARD_HEADERS", "x-mesh-principal"),
        ("FORWARD_HEADERS", "Authorization"),
    ],
)
def test_bad_auth_values_name_the_variable(name: str, value: str) -> None:
    environ = {**JWT, f"MESH_GATEWAY_{name}": value}
    if name == "JWT_ALGORITHMS" and value == "":
        environ[f"MESH_GATEWAY_{name}"] = " , "
    with pytest.raises(SettingsError, match=f"MESH_GATEWAY_{name}"):
        Settings.from_env(environ)


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token in half a second
    assert limiter.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert limiter.take("a") == 0.0


def test_buckets_are_bounded() -> None:
    limiter = RateLimiter(1.0, 1, max_clients=100)
    for n in range(10_000):
        limiter.take(f"ip:{n}")
    assert len(limiter) == 100


@pytest.mark.parametrize(
    ("forwarded", "trusted", "expected"),
    [
        ([], 0, "10.0.0.9"),
        ([b"1.2.3.4"], 0, "10.0.0.9"),  # no proxy trusted: the header is the client's word
        ([b"6.6.6.6, 1.2.3.4"], 1, "1.2.3.4"),  # the client wrote 6.6.6.6; the proxy 1.2.3.4
        ([b"6.6.6.6", b"1.2.3.4"], 1, "1.2.3.4"),
        ([b"1.2.3.4"], 2, "10.0.0.9"),  # fewer hops than proxies: fall back to the peer
        ([b" , "], 1, "10.0.0.9"),
    ],
)
def test_client_address_trusts_only_its_own_proxies(
    forwarded: list[bytes], trusted: int, expected: str
) -> None:
    assert client_address(("10.0.0.9", 5555), forwarded, trusted) == expected
