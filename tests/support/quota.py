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

from gateway.ratelimit import RateLimiter
from mesh.discovery import HealthFilter, Instance, Registry, RegistryThrottled


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
        # The gateway's token bucket, one bucket per API.
        self.limit = {
            api: RateLimiter(rate, max(1, round(2 * rate)), clock=clock)
            for api, rate in (("revision", revision_rate), ("discover", discover_rate))
        }
        self.lifted = False
        self.calls: Counter[str] = Counter()

    def lift(self) -> None:
        """No limit from now on (the quota raised, or the crowd gone)."""
        self.lifted = True

    async def revision(self, service: str) -> int:
        self.calls["revision"] += 1
        if not self.lifted and self.limit["revision"].take("account") > 0:
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
        if not self.lifted and self.limit["discover"].take("account") > 0:
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
