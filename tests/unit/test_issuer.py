"""The local issuer: its key on disk, the JWKS, and the tokens it mints."""

from __future__ import annotations

import math
import os
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.issuer import (
    KEY_FILE,
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    IssuerError,
    LocalIssuer,
    jwk_thumbprint,
    local_auth_env,
)
from mesh.localkeys import MAX_KEY_FILE

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("data"))


def verify(issuer: LocalIssuer, token: str) -> dict[str, Any]:
    """Verify as the gateway will: the key from the JWKS, issuer and audience checked."""
    (jwk,) = issuer.jwks()["keys"]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=["RS256"],
        audience=LOCAL_AUDIENCE,
        issuer=LOCAL_ISSUER,
        options={"require": ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]},
    )
    return claims


def write_key(path: Path, key: rsa.RSAPrivateKey, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)


def test_the_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    first = LocalIssuer.load_or_create(tmp_path)
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert os.listdir(key.parent) == ["signing-key.pem"]  # no temporary file left behind
    before = key.read_bytes()
    second = LocalIssuer.load_or_create(tmp_path)
    assert second.kid == first.kid
    assert key.read_bytes() == before


def test_a_token_verifies_against_the_jwks(issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", ["orders.write", "orders.read", "orders.read"], ttl=600)
    claims = verify(issuer, token)
    assert claims["sub"] == "alice"
    assert claims["scope"] == "orders.read orders.write"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - time.time()) < 60
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": issuer.kid, "typ": "JWT"}
    assert issuer.mint("alice", []) != issuer.mint("alice", [])  # jti differs


def test_the_jwks_holds_the_public_key_only(issuer: LocalIssuer) -> None:
    (jwk,) = issuer.jwks()["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert not PRIVATE_MEMBERS & set(jwk)
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert jwk["kid"] == issuer.kid == jwk_thumbprint(jwk)


def test_the_thumbprint_is_rfc_7638s() -> None:
    # The worked example of RFC 7638 section 3.1.
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
        "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_now_and_ttl_set_the_times(issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", ["orders.read"], ttl=59.5, now=1_000_000.75)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_000_000, 1_000_000, 1_000_060)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(issuer, token)


def test_a_token_from_the_future_is_not_yet_valid(issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", [], now=time.time() + 600)
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(issuer, token)


def test_extra_claims_are_added_but_cannot_replace_registered_ones(issuer: LocalIssuer) -> None:
    claims = verify(issuer, issuer.mint("alice", [], email="alice@example.com"))
    assert claims["email"] == "alice@example.com"
    assert claims["scope"] == ""
    with pytest.raises(ValueError, match=r"aud, scope are set by mint; use sign\(\)"):
        issuer.mint("alice", [], aud="other", scope="orders.admin")


def test_sign_makes_the_wrong_tokens_verifiers_must_refuse(issuer: LocalIssuer) -> None:
    token = issuer.sign({"iss": LOCAL_ISSUER, "aud": "someone-else", "sub": "mallory"})
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, jwt.PyJWK(issuer.jwks()["keys"][0]), ["RS256"], audience=LOCAL_AUDIENCE)


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("", "1 to 255 characters"),
        ("a" * 256, "1 to 255 characters"),
        ("a" * 10_240, "1 to 255 characters"),
        ("al ice", "no spaces"),
        ("alice\n", "control characters"),
        ("a\tb", "control characters"),
        ("a\x00b", "control characters"),
        ("a\u2028b", "control characters"),
        ("a\u00a0b", "no spaces"),
    ],
)
def test_a_bad_subject_is_refused(issuer: LocalIssuer, subject: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        issuer.mint(subject, [])


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("orders.read", "not one string"),
        ([""], "1 to 128 printable ASCII"),
        (["orders.read orders.write"], "1 to 128 printable ASCII"),
        (['say"what'], "1 to 128 printable ASCII"),
        (["back\\slash"], "1 to 128 printable ASCII"),
        (["caf\u00e9"], "1 to 128 printable ASCII"),
        (["x" * 129], "1 to 128 printable ASCII"),
        ([f"s{i}" for i in range(65)], "at most 64 scopes"),
        ([b"orders.read"], "scope bytes"),
    ],
)
def test_a_bad_scope_is_refused(issuer: LocalIssuer, scopes: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        issuer.mint("alice", scopes)


@pytest.mark.parametrize("ttl", [0, -1, 86_401, math.nan, math.inf])
def test_a_bad_ttl_is_refused(issuer: LocalIssuer, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl is more than 0 and at most 86400"):
        issuer.mint("alice", [], ttl)


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    LocalIssuer.load_or_create(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(IssuerError, match=r"others may read it \(mode 0644\); chmod 600"):
        LocalIssuer.load_or_create(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\ngarbage\n", b"x" * 100_000]
)
def test_a_damaged_key_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / KEY_FILE
    path.parent.mkdir()
    path.write_bytes(content)
    path.chmod(0o600)
    expected = "larger than" if len(content) > MAX_KEY_FILE else "not a PEM private key"
    with pytest.raises(IssuerError, match=rf"{expected}.*delete it to get a new"):
        LocalIssuer.load_or_create(tmp_path)
    assert path.read_bytes() == content


def test_a_weak_key_is_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the point of the test
    write_key(tmp_path / KEY_FILE, weak)
    with pytest.raises(IssuerError, match="not an RSA key of 2048 bits or more"):
        LocalIssuer.load_or_create(tmp_path)


def test_a_symlinked_key_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.pem"
    write_key(elsewhere, rsa.generate_private_key(65537, 2048))
    (tmp_path / "data" / "auth").mkdir(parents=True)
    (tmp_path / "data" / KEY_FILE).symlink_to(elsewhere)
    with pytest.raises(IssuerError, match="a symbolic link; the key must be a file of its own"):
        LocalIssuer.load_or_create(tmp_path / "data")


def test_a_data_dir_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    for data_dir in (blocker, blocker / "below"):
        with pytest.raises(IssuerError, match=r"cannot read the key: Not a directory"):
            LocalIssuer.load_or_create(data_dir)
    assert blocker.read_text() == "in the way"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_data_dir_is_refused_and_left_empty(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(IssuerError, match="cannot create the key directory"):
            LocalIssuer.load_or_create(tmp_path)
        assert os.listdir(tmp_path) == []
    finally:
        tmp_path.chmod(0o700)


def test_the_gateway_settings_name_the_same_issuer_and_audience(issuer: LocalIssuer) -> None:
    url = "http://127.0.0.1:1234/.well-known/jwks.json"
    assert local_auth_env(issuer, url) == {
        "MESH_GATEWAY_JWKS_URL": url,
        "MESH_GATEWAY_JWT_ISSUER": LOCAL_ISSUER,
        "MESH_GATEWAY_JWT_AUDIENCE": LOCAL_AUDIENCE,
    }
    claims = jwt.decode(issuer.mint("alice", []), options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == (LOCAL_ISSUER, LOCAL_AUDIENCE)
