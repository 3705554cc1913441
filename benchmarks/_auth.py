"""Tokens for the gateway benchmark: the local issuer, its JWKS, and the verifier alone.

    issuer = LocalIssuer.load_or_create(data_dir)
    with jwks_process(data_dir) as url:          # python -m mesh.issuer serve
        env = gateway_auth_env(issuer, url, cache_size=0)
    hit_us, check_us = verify_cost(issuer)      # Verifier.verify in-process

The JWKS is served by a process of its own (as scripts/run serves it), so its
CPU never lands on the gateway process the benchmark measures.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.auth import JwksCache, JwtSettings, Verifier
from mesh.issuer import LocalIssuer, local_auth_env

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "bench_token",
    "check_verified",
    "gateway_auth_env",
    "jwks_process",
    "verify_cost",
]

DEFAULT_CACHE_SIZE = JwtSettings("", "", "").cache_size
# Longer than any run; the cached entry must not expire mid-measurement.
_TTL = 6 * 3600.0


def bench_token(issuer: LocalIssuer) -> str:
    """The one token every request of a JWT row carries (RS256, the issuer's 2048-bit key)."""
    return issuer.mint("bench", ["orders.read"], ttl=_TTL)


@contextmanager
def jwks_process(data_dir: Path) -> Iterator[str]:
    """``python -m mesh.issuer serve`` on a free port; yields the JWKS URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh.issuer", "serve", "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"mesh.issuer serve printed no URL (exit {proc.wait(10)})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def gateway_auth_env(issuer: LocalIssuer, jwks_url: str, *, cache_size: int) -> dict[str, str]:
    """The gateway's settings to verify ``issuer``'s tokens, with the verified-token cache size."""
    return {
        "MESH_GATEWAY_AUTH": "jwt",
        **local_auth_env(issuer, jwks_url),
        "MESH_GATEWAY_JWT_CACHE_SIZE": str(cache_size),
    }


def check_verified(url: str, token: str) -> None:
    """Fail unless the gateway at ``url`` verifies tokens: a good one passes, a bad one is 401.

    A row that lost its token settings would otherwise measure another path, or
    fail every request.
    """

    def status(authorization: str) -> int:
        request = urllib.request.Request(  # noqa: S310 - the http URL of our own front
            url, headers={"Authorization": authorization}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - as above
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return error.code

    good, bad = status(f"Bearer {token}"), status("Bearer not.a-token")
    if (good, bad) != (200, 401):
        raise RuntimeError(f"{url}: a good token got {good}, a bad one {bad} (want 200, 401)")


def verify_cost(
    issuer: LocalIssuer, *, hits: int = 50_000, checks: int = 2_000
) -> tuple[float, float]:
    """µs per ``Verifier.verify`` call (best of 5): a cache hit, and a full signature check."""
    token = bench_token(issuer)
    body = json.dumps(issuer.jwks()).encode()

    async def per_call(cache_size: int, calls: int) -> float:
        settings = JwtSettings(
            issuer.issuer, "http://127.0.0.1/unused", issuer.audience, cache_size=cache_size
        )
        keys = JwksCache(settings, fetch=lambda _url, _timeout: body)
        await keys.refresh()
        verifier = Verifier(settings, keys)
        await verifier.verify(token)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(calls):
                await verifier.verify(token)
            best = min(best, time.perf_counter() - t0)
        return best / calls * 1e6

    return asyncio.run(per_call(DEFAULT_CACHE_SIZE, hits)), asyncio.run(per_call(0, checks))
