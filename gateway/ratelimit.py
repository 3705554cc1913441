"""Per-client rate limits at the gateway: one token bucket per client.

    limiter = RateLimiter(rate=50, burst=100)
    wait = limiter.take("sub:alice")   # 0.0: go on; > 0: seconds until a token is free

A client is its verified subject, else its address, so users behind one NAT
are told apart once they sign in. Buckets live in a bounded dict: a flood of
new addresses evicts the least recently seen buckets instead of growing the
heap; an evicted client starts again with a full bucket, which is the cost of
the bound. This limits one gateway process; API Gateway's stage throttling
limits the whole front door.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

__all__ = ["RateLimiter", "client_address"]


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        # client -> (tokens, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """Spend one token; the seconds to wait when there is none (nothing is spent then)."""
        now = self._clock()
        found = self._buckets.pop(client, None)
        if found is None:
            tokens = self.burst
            if len(self._buckets) >= self.max_clients:
                del self._buckets[next(iter(self._buckets))]  # least recently seen
        else:
            tokens = min(self.burst, found[0] + (now - found[1]) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(
    peer: tuple[str, int] | None, forwarded_for: Iterable[bytes], trusted_proxies: int
) -> str:
    """The caller's address: the peer, or with ``trusted_proxies`` proxies in front,
    the address the farthest trusted proxy saw (``X-Forwarded-For`` read from the
    right, so a client cannot choose its own by sending the header)."""
    direct = peer[0] if peer else "unknown"
    if trusted_proxies <= 0:
        return direct
    hops: list[str] = []
    for value in forwarded_for:
        hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    hops = [h for h in hops if h]
    if len(hops) < trusted_proxies:
        return direct
    return hops[-trusted_proxies][:64]
