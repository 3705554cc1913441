"""Who is calling, and may they: authentication, rate limit and scopes, per request.

    guard = Guard(settings)
    principal = await guard.admit(endpoint.rule, authorization, peer, forwarded_for)

The route's rule comes from the contract (:mod:`mesh.access`). A token, when
sent, is always verified, even on a route that allows anonymous callers; a
route that needs scopes needs a token that carries them. Failures are
``google.rpc.Status`` errors with the RFC 6750 ``WWW-Authenticate`` header:
401 for a missing or bad token, 403 for a good token without the scope, 429
with ``Retry-After`` when the caller is over its rate.
"""

from __future__ import annotations

import math
import re

import grpc

from gateway.auth import AuthError, JwksCache, Verifier
from gateway.errors import GatewayError
from gateway.ratelimit import RateLimiter, client_address
from gateway.settings import Settings
from mesh.access import Rule
from mesh.principal import ANONYMOUS, Principal

__all__ = ["Guard"]

REALM = "shop"
# RFC 6750's b64token: what may follow "Bearer ".
_BEARER = re.compile(rb"^[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/-]+=*)\Z")


class Guard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys: JwksCache | None = None
        self.verifier: Verifier | None = None
        if settings.jwt is not None:
            self.keys = JwksCache(settings.jwt)
            self.verifier = Verifier(settings.jwt, self.keys)
        self.limiter = (
            RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst)
            if settings.rate_limit_rps > 0
            else None
        )

    async def start(self) -> None:
        if self.keys is not None:
            await self.keys.start()

    async def stop(self) -> None:
        if self.keys is not None:
            await self.keys.stop()

    async def admit(
        self,
        rule: Rule,
        authorization: list[bytes],
        peer: tuple[str, int] | None,
        forwarded_for: list[bytes],
    ) -> Principal:
        try:
            principal = await self._authenticate(rule, authorization)
        except GatewayError:
            # Failed attempts spend the address's budget: guessing tokens is rate-limited too.
            self._limit(None, peer, forwarded_for)
            raise
        self._limit(principal.subject, peer, forwarded_for)
        if not principal.has_all(rule.scopes):
            missing = " ".join(sorted(rule.scopes - principal.scopes))
            raise GatewayError(
                f"this call needs the scope(s) {missing}",
                http_status=403,
                code=grpc.StatusCode.PERMISSION_DENIED,
                reason="INSUFFICIENT_SCOPE",
                headers=[_challenge("insufficient_scope", "token lacks a scope", missing)],
            )
        return principal

    async def _authenticate(self, rule: Rule, authorization: list[bytes]) -> Principal:
        if not authorization or self.verifier is None:
            if rule.allow_anonymous:
                return ANONYMOUS
            described = (
                "a bearer token is required"
                if self.verifier is not None
                else "this gateway accepts no tokens (MESH_GATEWAY_AUTH=none)"
            )
            raise GatewayError(
                described,
                http_status=401,
                code=grpc.StatusCode.UNAUTHENTICATED,
                reason="TOKEN_MISSING",
                # RFC 6750 3.1: no error code when the request carried no credentials.
                headers=[(b"www-authenticate", f'Bearer realm="{REALM}"'.encode())],
            )
        if len(authorization) > 1:
            raise _unauthenticated(
                AuthError(
                    "one Authorization header at most",
                    error="invalid_request",
                    reason="TOKEN_MALFORMED",
                )
            )
        found = _BEARER.match(authorization[0])
        if found is None:
            raise _unauthenticated(
                AuthError(
                    "Authorization must be 'Bearer <token>'",
                    error="invalid_request",
                    reason="TOKEN_MALFORMED",
                )
            )
        try:
            return await self.verifier.verify(found.group(1).decode("ascii"))
        except AuthError as error:
            raise _unauthenticated(error) from None

    def _limit(
        self, subject: str | None, peer: tuple[str, int] | None, forwarded_for: list[bytes]
    ) -> None:
        """One bucket per signed-in subject, else per client address."""
        if self.limiter is None:
            return
        if subject:
            client = "sub:" + subject
        else:
            client = "ip:" + client_address(peer, forwarded_for, self.settings.trusted_proxies)
        wait = self.limiter.take(client)
        if wait > 0:
            raise GatewayError(
                "too many requests; slow down",
                http_status=429,
                code=grpc.StatusCode.RESOURCE_EXHAUSTED,
                reason="RATE_LIMITED",
                headers=[(b"retry-after", str(max(1, math.ceil(wait))).encode())],
            )


def _challenge(error: str, description: str, scope: str = "") -> tuple[bytes, bytes]:
    value = f'Bearer realm="{REALM}", error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return (b"www-authenticate", value.encode())


def _unauthenticated(error: AuthError) -> GatewayError:
    return GatewayError(
        error.description,
        http_status=401,
        code=grpc.StatusCode.UNAUTHENTICATED,
        reason=error.reason,
        headers=[_challenge(error.error, error.description)],
    )
