"""The local token issuer: development's stand-in for the identity provider.

On AWS the gateway trusts a real identity provider's JWKS. Locally it trusts
this one: an RSA key kept in the data dir (``<data-dir>/auth/signing-key.pem``),
its public half served as a JWKS by :func:`serve_jwks`, and tokens minted by
``scripts/token`` (:mod:`mesh.token`). The gateway cannot tell the two apart,
which is the point: the code that verifies tokens in development is the code
that verifies them in production.

    issuer = LocalIssuer.load_or_create(Path(".data"))
    token = issuer.mint("alice", ["orders.read"], ttl=600)
    async with await serve_jwks(issuer) as server:
        env = local_auth_env(issuer, server.url)   # for the gateway process

    python -m mesh.issuer serve [--data-dir .data] [--port 0]   # prints the JWKS URL

The key never leaves the machine and signs only for :data:`LOCAL_AUDIENCE`
from :data:`LOCAL_ISSUER`; a gateway configured for a real provider rejects it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.jwks_server import JWKS_PATH, JwksServer, start_jwks_server
from mesh.localkeys import KeyFileError, load_or_create
from mesh.principal import MAX_SCOPES, MAX_SUBJECT, SCOPE_TOKEN

__all__ = [
    "ALGORITHM",
    "JWKS_PATH",
    "KEY_FILE",
    "LOCAL_AUDIENCE",
    "LOCAL_ISSUER",
    "MAX_TTL",
    "IssuerError",
    "JwksServer",
    "LocalIssuer",
    "check_scopes",
    "check_subject",
    "jwk_thumbprint",
    "local_auth_env",
    "serve_jwks",
]

# Not a URL anyone fetches: an identifier both sides must spell the same way.
LOCAL_ISSUER: Final = "http://127.0.0.1/shop-local-issuer"
LOCAL_AUDIENCE: Final = "shop-api"
ALGORITHM: Final = "RS256"
KEY_FILE: Final = Path("auth") / "signing-key.pem"
# A day: long enough for a working session, short enough that a leaked token dies.
MAX_TTL: Final = 86_400.0

_KEY_BITS = 2048
_MAX_KEY_FILE = 64 * 1024
# RFC 6749 section 3.3 scope-token, with the length limit mesh.principal applies.
_REGISTERED = frozenset({"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "scope"})


class IssuerError(Exception):
    """The signing key cannot be created or read; the message names the file."""


def _shown(value: str, limit: int = 40) -> str:
    """A value for an error message: hostile input must not flood the terminal."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} chars)"


def check_subject(subject: str) -> str:
    """Refuse a subject the gateway would not pass on (see :class:`mesh.principal.Principal`)."""
    if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
        raise ValueError(f"a subject has 1 to {MAX_SUBJECT} characters")
    if not subject.isprintable() or any(c.isspace() for c in subject):
        raise ValueError(
            f"subject {_shown(subject)}: printable characters only, no spaces or control characters"
        )
    return subject


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, sorted and without repeats; each an RFC 6749 scope-token."""
    if isinstance(scopes, str):
        # A string is iterable too: "orders.read" would become nine one-letter scopes.
        raise ValueError("scopes is a collection of scope names, not one string")
    names = set()
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            shown = _shown(scope) if isinstance(scope, str) else type(scope).__name__
            raise ValueError(
                f"scope {shown}: 1 to 128 printable ASCII characters, no space, '\"' or '\\'"
            )
        names.add(scope)
    if len(names) > MAX_SCOPES:
        raise ValueError(f"at most {MAX_SCOPES} scopes")
    return sorted(names)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA JWK (its ``e``, ``kty`` and ``n`` only)."""
    members = {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LocalIssuer:
    """Signs tokens for :data:`LOCAL_AUDIENCE` as :data:`LOCAL_ISSUER` with one RSA key."""

    issuer: Final = LOCAL_ISSUER
    audience: Final = LOCAL_AUDIENCE

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        if private_key.key_size < _KEY_BITS:
            raise ValueError(f"an RSA key of at least {_KEY_BITS} bits")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        public = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        self._kid = jwk_thumbprint(public)
        self._jwk = {**public, "kid": self._kid, "alg": ALGORITHM, "use": "sig"}

    @classmethod
    def load_or_create(cls, data_dir: Path) -> LocalIssuer:
        """The issuer whose key is in ``data_dir``; the key is made on first use.

        Processes racing to make it end up sharing one key: each writes its own
        temporary file and links it into place, and the first link wins.
        """
        path = data_dir / KEY_FILE
        try:
            data = load_or_create(path, _new_key_pem)
        except KeyFileError as exc:
            raise IssuerError(str(exc)) from None
        return cls(_parse_key(path, data))

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key: stable for as long as the key is."""
        return self._kid

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWK Set (RFC 7517), what the gateway fetches."""
        return {"keys": [dict(self._jwk)]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign ``claims`` exactly as given, unchecked: for tests of what verifiers refuse."""
        return jwt.encode(dict(claims), self._key, algorithm=ALGORITHM, headers={"kid": self._kid})

    def mint(
        self,
        subject: str,
        scopes: Iterable[str],
        ttl: float = 3600,
        *,
        now: float | None = None,
        **extra_claims: Any,
    ) -> str:
        """A signed token for ``subject`` with ``scopes`` (the ``scope`` claim, space-separated).

        ``now`` is the issue time (seconds since the epoch; default the clock);
        ``extra_claims`` are added as they are but may not replace the
        registered ones (use :meth:`sign` for a deliberately wrong token).
        """
        check_subject(subject)
        names = check_scopes(scopes)
        if not 0 < ttl <= MAX_TTL:
            raise ValueError(f"ttl is more than 0 and at most {MAX_TTL:.0f} seconds, not {ttl}")
        clash = sorted(_REGISTERED & extra_claims.keys())
        if clash:
            raise ValueError(f"claim(s) {', '.join(clash)} are set by mint; use sign() instead")
        issued = math.floor(time.time() if now is None else now)
        return self.sign(
            {
                **extra_claims,
                "iss": self.issuer,
                "aud": self.audience,
                "sub": subject,
                "iat": issued,
                "nbf": issued,
                "exp": issued + math.ceil(ttl),
                "jti": secrets.token_urlsafe(16),
                "scope": " ".join(names),
            }
        )


def _new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _parse_key(path: Path, data: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IssuerError(
            f"{path}: not a PEM private key ({exc}); delete it to get a new one"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _KEY_BITS:
        raise IssuerError(
            f"{path}: not an RSA key of {_KEY_BITS} bits or more; delete it to get a new one"
        )
    return key


async def serve_jwks(issuer: LocalIssuer, host: str = "127.0.0.1", port: int = 0) -> JwksServer:
    """Serve ``issuer``'s JWKS at ``GET /.well-known/jwks.json`` on a loopback address."""
    return await start_jwks_server(issuer.jwks(), host, port)


def local_auth_env(issuer: LocalIssuer, jwks_url: str) -> dict[str, str]:
    """The gateway's settings for trusting ``issuer`` (what scripts/run passes it)."""
    return {
        "MESH_GATEWAY_JWKS_URL": jwks_url,
        "MESH_GATEWAY_JWT_ISSUER": issuer.issuer,
        "MESH_GATEWAY_JWT_AUDIENCE": issuer.audience,
    }


async def _serve_until_stopped(data_dir: Path, host: str, port: int) -> None:
    issuer = LocalIssuer.load_or_create(data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await serve_jwks(issuer, host, port) as server:
        # The one line on stdout: whoever started us reads the URL from it.
        print(server.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.issuer", description="The local token issuer."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the JWKS; print its URL; stop on SIGTERM")
    serve.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("MESH_DATA_DIR", ".data"))
    )
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address")
    serve.add_argument("--port", type=int, default=0, help="0 for any free port")
    opts = parser.parse_args(argv)
    if not 0 <= opts.port <= 65535:
        parser.error("--port must be in 0..65535")
    try:
        asyncio.run(_serve_until_stopped(opts.data_dir, opts.host, opts.port))
    except (IssuerError, ValueError, OSError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
