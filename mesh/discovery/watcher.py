"""The endpoint cache of one service: follows the registry at a bounded cost.

Every ``poll_interval`` the watcher asks for the cheap revision and
refetches the instances only when it moved; every ``full_refresh_interval``
it refetches anyway, because health changes do not move Cloud Map's
revision. When the registry fails (throttled, unreachable, unreadable) the
last good set stays in place for as long as the failure lasts and polling
backs off exponentially with jitter; the set becomes empty only when the
registry itself answers with no usable instance. So the registry load per
client is a function of the intervals, never of the request rate.

Cloud Map's quotas are per account and Region (DiscoverInstancesRevision
3,000/s), so enough clients polling every second exhaust them together. When
the registry says "throttled" the watcher doubles its poll interval (up to
``backoff_max``) and then shrinks it back by 10 % per answered poll: the
clients of an account settle just under the quota instead of hammering it,
and calls keep using the endpoints they have. Every wait carries ±10 % jitter
so clients started together do not poll in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping

from mesh.discovery.model import Endpoint, HealthFilter, to_endpoints
from mesh.discovery.registry import Registry, RegistryThrottled

__all__ = ["EndpointWatcher", "Listener", "backoff_delay", "jittered"]

# How far a throttled client stretches its poll interval, and how fast it comes back.
_THROTTLE_STRETCH = 2.0
_RECOVERY = 0.9
_JITTER = 0.1

logger = logging.getLogger("mesh.discovery")

Listener = Callable[[tuple[Endpoint, ...]], None]


def backoff_delay(failures: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Delay after ``failures`` consecutive failures: doubling, capped, "equal jitter".

    Half the delay is fixed and half random, so clients spread out after a
    shared outage yet none retries at once.
    """
    ceiling = min(maximum, initial * 2.0 ** max(0, failures - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def jittered(delay: float, rng: random.Random) -> float:
    """``delay`` ±10 %: clients that started together drift apart."""
    return delay * rng.uniform(1 - _JITTER, 1 + _JITTER)


class EndpointWatcher:
    """Keeps the endpoint set of ``service`` current; see the module docstring.

    Typical use::

        watcher = EndpointWatcher(registry, "inventory")
        watcher.start()
        await watcher.wait_ready(5.0)
        watcher.subscribe(lambda endpoints: ...)   # or: async for eps in watcher.updates()
        ...
        await watcher.stop()

    ``calls`` counts registry calls by kind (``revision``, ``discover``) and
    failures (``errors``), for a benchmark's calls-per-minute figure.
    """

    def __init__(
        self,
        registry: Registry,
        service: str,
        *,
        poll_interval: float = 1.0,
        full_refresh_interval: float = 15.0,
        backoff_initial: float | None = None,
        backoff_max: float = 15.0,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        if poll_interval <= 0 or full_refresh_interval < poll_interval:
            raise ValueError("need 0 < poll_interval <= full_refresh_interval")
        self.registry = registry
        self.service = service
        self.poll_interval = poll_interval
        self.full_refresh_interval = full_refresh_interval
        self.backoff_initial = backoff_initial if backoff_initial is not None else poll_interval
        self.backoff_max = max(backoff_max, self.backoff_initial)
        self._health = health
        self._query = dict(query) if query else None
        self._max_results = max_results
        self._rng = rng or random.Random()
        self._endpoints: tuple[Endpoint, ...] = ()
        self._revision: int | None = None
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []
        self._queues: set[asyncio.Queue[tuple[Endpoint, ...]]] = set()
        self.calls: Counter[str] = Counter()
        self.failures = 0  # consecutive; 0 while the registry answers
        # The poll interval now: poll_interval, stretched while the registry throttles.
        self.interval = poll_interval
        # time.monotonic() of the last answer from the registry (the cache's age, for metrics).
        self.refreshed_at: float | None = None

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The current set, sorted; the last good one while the registry fails."""
        return self._endpoints

    @property
    def ready(self) -> bool:
        """True once the registry has answered at least once."""
        return self._ready.is_set()

    def start(self) -> None:
        """Start polling in the background (needs a running event loop); idempotent."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"endpoint-watcher:{self.service}"
            )

    async def stop(self) -> None:
        """Stop polling and end every ``updates()`` iterator."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # A timeout parameter on purpose: callers ask "ready within N s?" and get a bool.
    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the first answer from the registry; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(endpoints)`` after each change; returns an unsubscribe function.

        A listener that raises is logged and stays subscribed.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def updates(self) -> AsyncIterator[tuple[Endpoint, ...]]:
        """Yield the current set (once ready), then each new set; ends at ``stop()``.

        A slow consumer skips intermediate sets and gets the latest one.
        """
        queue: asyncio.Queue[tuple[Endpoint, ...]] = asyncio.Queue(maxsize=1)
        self._queues.add(queue)
        try:
            if self.ready:
                queue.put_nowait(self._endpoints)
            while not self._stopping.is_set():
                getter = asyncio.ensure_future(queue.get())
                stopper = asyncio.ensure_future(self._stopping.wait())
                done, pending = await asyncio.wait(
                    {getter, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                for fut in pending:
                    fut.cancel()
                if getter not in done:
                    return
                yield getter.result()
        finally:
            self._queues.discard(queue)

    async def refresh(self, *, force: bool = False) -> None:
        """One poll now: revision, and a full fetch if it moved (or ``force``).

        Raises the registry's error; the background loop is what keeps the
        last good set and backs off.
        """
        self.calls["revision"] += 1
        revision = await self.registry.revision(self.service)
        if force or revision != self._revision or not self.ready:
            self.calls["discover"] += 1
            instances = await self.registry.discover(
                self.service, health=self._health, query=self._query, max_results=self._max_results
            )
            self._revision = revision
            self._publish(to_endpoints(instances, service=self.service))
        self.refreshed_at = time.monotonic()
        self._ready.set()

    def _publish(self, endpoints: tuple[Endpoint, ...]) -> None:
        if endpoints == self._endpoints and self.ready:
            return
        self._endpoints = endpoints
        logger.info(
            "discovery: %s now has %d endpoint(s): %s",
            self.service,
            len(endpoints),
            ", ".join(e.address for e in endpoints) or "none",
            extra={"target_service": self.service, "endpoints": [e.address for e in endpoints]},
        )
        for listener in list(self._listeners):
            try:
                listener(endpoints)
            except Exception:
                logger.exception("discovery: endpoint listener of %s failed", self.service)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(endpoints)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_full = float("-inf")
        while not self._stopping.is_set():
            full = loop.time() - last_full >= self.full_refresh_interval
            try:
                await self.refresh(force=full)
            except RegistryThrottled as exc:
                # Not an outage: the account's quota is shared, so poll less, for everyone.
                self.calls["throttled"] += 1
                self.interval = min(self.backoff_max, self.interval * _THROTTLE_STRETCH)
                delay = jittered(self.interval, self._rng)
                logger.warning(
                    "discovery: %s: registry throttled; polling every %.1fs, keeping %d "
                    "endpoint(s): %s",
                    self.service,
                    self.interval,
                    len(self._endpoints),
                    exc,
                    extra={"service": self.service, "interval": self.interval},
                )
            except Exception as exc:  # RegistryError, or a bug in a back end: never die
                self.calls["errors"] += 1
                self.failures += 1
                delay = backoff_delay(
                    self.failures, self.backoff_initial, self.backoff_max, self._rng
                )
                logger.warning(
                    "discovery: %s: registry failed (%d in a row), keeping %d endpoint(s), "
                    "retry in %.2fs: %s",
                    self.service,
                    self.failures,
                    len(self._endpoints),
                    delay,
                    exc,
                    extra={"target_service": self.service, "failures": self.failures},
                )
            else:
                if full:
                    last_full = loop.time()
                self.failures = 0
                self.interval = max(self.poll_interval, self.interval * _RECOVERY)
                delay = jittered(self.interval, self._rng)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
