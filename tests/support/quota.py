"""A registry with Cloud Map's per-account quotas: a real Registry in front of another.

Every client process of one AWS account shares DiscoverInstancesRevision (3,000/s)
and DiscoverInstances (1,000/s). Token buckets at those rates (scaled down for a
test) refuse with :class:`RegistryThrottled`, as Cloud Map's RequestLimitExceeded
does, so watchers can be tested, and simulated in numbers, against the real limit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping

from mesh.discovery import HealthFilter, Instance, Registry, RegistryThrottled


class _Bucket:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self.tokens, self.stamp = burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class QuotaRegistry:
    def __init__(
        self,
        inner: Registry,
        *,
        revision_rate: float,
        discover_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        # Cloud Map's burst for DiscoverInstances is twice its rate; the same for both here.
        self.revisions = _Bucket(revision_rate, 2 * revision_rate, clock)
        self.discovers = _Bucket(discover_rate, 2 * discover_rate, clock)
        self.calls: Counter[str] = Counter()

    def lift(self) -> None:
        """No limit from now on (the quota raised, or the crowd gone)."""
        for bucket in (self.revisions, self.discovers):
            bucket.rate = bucket.burst = bucket.tokens = float("inf")

    async def revision(self, service: str) -> int:
        self.calls["revision"] += 1
        if not self.revisions.take():
            self.calls["revision_throttled"] += 1
            raise RegistryThrottled("DiscoverInstancesRevision: RequestLimitExceeded")
        return await self.inner.revision(service)

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = 100,
    ) -> list[Instance]:
        self.calls["discover"] += 1
        if not self.discovers.take():
            self.calls["discover_throttled"] += 1
            raise RegistryThrottled("DiscoverInstances: RequestLimitExceeded")
        return await self.inner.discover(
            service, health=health, query=query, max_results=max_results
        )

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None:
        await self.inner.register(
            service, instance_id, attributes, creator_request_id=creator_request_id
        )

    async def deregister(self, service: str, instance_id: str) -> None:
        await self.inner.deregister(service, instance_id)

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None:
        await self.inner.set_health(service, instance_id, healthy)

    async def close(self) -> None:
        await self.inner.close()
