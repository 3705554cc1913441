"""Bearer tokens at the gateway: JWTs verified against a JWKS, with PyJWT.

    keys = JwksCache(settings.jwks_url)
    verifier = Verifier(settings, keys)
    principal = verifier.verify(token)   # or raises AuthError

The key set is fetched off the event loop (a worker thread), refreshed in the
background, and refetched when a token names a ``kid`` we have not seen, at most
once per ``min_refetch`` seconds so a stream of made-up ``kid``s cannot turn
the gateway into a JWKS flood. When the JWKS endpoint is down, the keys we have
keep working. Verified tokens are remembered until they expire, so a client
that sends the same token again costs a dictionary lookup, not an RSA check.

Why PyJWT: the most used JWT library in Python, small API, an explicit
algorithm list on every decode, and it refuses to use a PEM/JWK public key as an
HMAC secret. Its own ``PyJWKClient`` fetches with blocking urllib on the
caller's thread, so the fetching and caching here are ours.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from mesh.principal import MAX_SCOPES, SCOPE_TOKEN, Principal, PrincipalError

__all__ = ["AuthError", "JwksCache", "JwtSettings", "Verifier"]

log = logging.getLogger("gateway.auth")

MAX_TOKEN_BYTES = 8192
MAX_JWKS_BYTES = 1 << 20
# Algorithms by key type: a key is only ever used with the family it belongs to,
# so an HS256 token "signed" with an RSA public key has nothing to verify against.
_FAMILY = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
ASYMMETRIC = frozenset().union(*_FAMILY.values())


class AuthError(Exception):
    """A token that does not authenticate; ``error`` is the RFC 6750 error code."""

    def __init__(self, description: str, *, error: str = "invalid_token", reason: str) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JwtSettings:
    issuer: str
    jwks_url: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: float = 30.0
    scope_prefix: str = ""
    jwks_refresh: float = 300.0
    jwks_min_refetch: float = 30.0
    jwks_timeout: float = 3.0
    cache_size: int = 10_000


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    algorithms: frozenset[str]


def _fetch(url: str, timeout: float) -> bytes:
    # http(s) only: checked when the setting is read.
    with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310
        body: bytes = reply.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("JWKS larger than 1 MiB")
    return body


def parse_jwks(body: bytes, allowed: frozenset[str]) -> dict[str, _Key]:
    """The usable signing keys of a JWKS document, by ``kid``; others are skipped."""
    document = json.loads(body)
    keys: dict[str, _Key] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        family = _FAMILY.get(kty, frozenset()) & allowed if isinstance(kty, str) else frozenset()
        if not isinstance(kid, str) or not family:
            continue
        named = entry.get("alg")
        if named is not None:
            if named not in family:
                continue
            family = frozenset({named})
        try:
            key = jwt.PyJWK(entry, next(iter(sorted(family)))).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            log.warning("skipping a JWKS key that does not load", extra={"kid": kid})
            continue
        keys[kid] = _Key(key, family)
    return keys


class JwksCache:
    """The issuer's keys: fetched in a thread, refreshed in the background, kept on failure."""

    def __init__(
        self,
        settings: JwtSettings,
        *,
        fetch: Callable[[str, float], bytes] = _fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._allowed = frozenset(settings.algorithms)
        self._fetch = fetch
        self._clock = clock
        self.keys: dict[str, _Key] = {}
        self.fetched_at: float | None = None
        self.last_attempt = -float("inf")
        self.fetches = 0
        self.failures = 0
        self._inflight: asyncio.Future[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        # Told whenever the key set changes, so verified tokens are forgotten.
        self.on_change: Callable[[], None] | None = None

    async def start(self) -> None:
        """First fetch (a failure is logged, not fatal: the endpoint may come up later)."""
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh_forever(self) -> None:
        while True:
            # Sooner while we have no keys at all, so a late issuer is picked up.
            wait = self.settings.jwks_refresh if self.keys else self.settings.jwks_min_refetch
            await asyncio.sleep(wait)
            await self.refresh()

    async def refresh(self) -> bool:
        """Fetch now (joining a fetch in flight); True when the keys were replaced."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight = future
        self.last_attempt = self._clock()
        try:
            self.fetches += 1
            body = await asyncio.to_thread(
                self._fetch, self.settings.jwks_url, self.settings.jwks_timeout
            )
            keys = parse_jwks(body, self._allowed)
        except Exception as exc:
            self.failures += 1
            log.warning(
                "JWKS fetch failed; keeping %d cached key(s)",
                len(self.keys),
                extra={"error": type(exc).__name__},
            )
            future.set_result(False)
            return False
        finally:
            self._inflight = None
        changed = keys.keys() != self.keys.keys()
        self.keys = keys
        self.fetched_at = self._clock()
        if changed and self.on_change is not None:
            self.on_change()
        future.set_result(True)
        return True

    async def key_for(self, kid: str) -> _Key | None:
        """The key named ``kid``, refetching (rate-limited) when it is new to us."""
        found = self.keys.get(kid)
        if found is not None:
            return found
        if self._clock() - self.last_attempt >= self.settings.jwks_min_refetch:
            await self.refresh()
        return self.keys.get(kid)


def _header(token: str) -> dict[str, Any]:
    """The JOSE header alone, to pick the key. PyJWT would parse (and base64-check)
    the whole token for it and then again to verify: about 25 us of the ~80 an
    uncached verification costs. jwt.decode checks everything again anyway."""
    head, dot, _ = token.partition(".")
    try:
        if not dot:
            raise ValueError("one segment")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        raise AuthError("token is not a JWT", reason="TOKEN_MALFORMED") from None
    if not isinstance(header, dict):
        raise AuthError("token is not a JWT", reason="TOKEN_MALFORMED")
    return header


class Verifier:
    """Token → :class:`~mesh.principal.Principal`, or :class:`AuthError`."""

    def __init__(
        self,
        settings: JwtSettings,
        keys: JwksCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self._allowed = frozenset(settings.algorithms)
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}
        keys.on_change = self._verified.clear

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if self._clock() < expires + self.settings.leeway:
                return principal
            del self._verified[token]
        principal, expires = await self._verify(token)
        if self.settings.cache_size <= 0:
            return principal
        if len(self._verified) >= self.settings.cache_size:
            # Oldest first (dicts keep insertion order): a flood of distinct tokens
            # costs their verification, never unbounded memory.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too large", reason="TOKEN_TOO_LARGE")
        header = _header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._allowed:
            raise AuthError("token algorithm not allowed", reason="TOKEN_ALGORITHM")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token names no key (kid)", reason="TOKEN_KEY_UNKNOWN")
        key = await self.keys.key_for(kid)
        if key is None:
            raise AuthError("token signed by an unknown key", reason="TOKEN_KEY_UNKNOWN")
        if alg not in key.algorithms:
            raise AuthError("token algorithm does not match its key", reason="TOKEN_ALGORITHM")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired", reason="TOKEN_EXPIRED") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not valid yet", reason="TOKEN_NOT_YET_VALID") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token from another issuer", reason="TOKEN_ISSUER") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature does not verify", reason="TOKEN_SIGNATURE") from None
        except jwt.DecodeError:
            raise AuthError("token is not a JWT", reason="TOKEN_MALFORMED") from None
        except jwt.PyJWTError:
            raise AuthError("token is invalid", reason="TOKEN_INVALID") from None
        self._check_audience(claims)
        return self._principal(claims), float(claims["exp"])

    def _check_audience(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        if audience is None:
            # Cognito access tokens name their app client instead of an audience.
            if claims.get("client_id") == self.settings.audience:
                return
        elif audience == self.settings.audience or (
            isinstance(audience, list) and self.settings.audience in audience
        ):
            return
        raise AuthError("token is for another audience", reason="TOKEN_AUDIENCE")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise AuthError("token subject is not a string", reason="TOKEN_SUBJECT")
        try:
            return Principal.user(subject, self._scopes(claims))
        except PrincipalError:
            raise AuthError("token subject is empty or too long", reason="TOKEN_SUBJECT") from None

    def _scopes(self, claims: dict[str, Any]) -> Iterable[str]:
        raw = claims.get("scope", claims.get("scp", ""))
        names = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        prefix = self.settings.scope_prefix
        # Scopes this gateway does not issue for (another prefix) or that metadata could
        # not carry are not ours to pass on.
        return [
            n.removeprefix(prefix)
            for n in names
            if isinstance(n, str)
            and (not prefix or n.startswith(prefix))
            and SCOPE_TOKEN.fullmatch(n.removeprefix(prefix))
        ][:MAX_SCOPES]
