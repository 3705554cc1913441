"""The embedded registry: one JSON file shared by the processes of one machine.

Semantics are Cloud Map's (see :class:`~mesh.discovery.registry.Registry`)
plus a lease: each process that registers instances refreshes their
``last_seen`` every ``heartbeat_interval`` seconds from an asyncio task, and
an instance not seen for ``ttl`` seconds is removed by the next reader or
writer, which bumps the service's revision. So a process killed with
SIGKILL vanishes from discovery within ``ttl`` (+ one poll), with no
cleanup step. A live process whose instance expired anyway (it was paused
longer than ``ttl``) puts it back on its next heartbeat.

Concurrency: every operation holds an exclusive ``fcntl.flock`` on a
sidecar ``<file>.lock`` (not on the data file, which is replaced), reads,
changes and writes through a temporary file renamed over the original, so a
reader never sees half a file. File I/O runs in a thread so the event loop
never waits on the lock. No fsync: the registry describes live processes
and is rebuilt by their heartbeats, so losing it in a power cut costs nothing.

File layout::

    {"version": 1, "services": {"<service>": {"revision": 3, "instances": {
        "<id>": {"attributes": {...}, "health": "HEALTHY", "last_seen": 1700000000.0}}}}}
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mesh.discovery.memory import initial_health
from mesh.discovery.model import HealthFilter, HealthStatus, Instance, filter_instances
from mesh.discovery.registry import (
    DEFAULT_MAX_RESULTS,
    InstanceNotFound,
    RegistryUnavailable,
    ServiceNotFound,
)

__all__ = ["LocalRegistry", "default_path"]

logger = logging.getLogger("mesh.discovery")

T = TypeVar("T")
State = dict[str, Any]
_VERSION = 1


def default_path() -> Path:
    """``$MESH_DATA_DIR/registry.json``, or ``.data/registry.json`` in the working directory."""
    return Path(os.environ.get("MESH_DATA_DIR") or ".data") / "registry.json"


class LocalRegistry:
    """A :class:`~mesh.discovery.registry.Registry` over a file; see the module docstring.

    ``services`` lists the services that exist (unknown ones raise
    ServiceNotFound); None accepts any name. ``clock`` is wall-clock time,
    shared by all processes on the machine.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        services: Iterable[str] | None = None,
        ttl: float = 3.0,
        heartbeat_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if heartbeat_interval <= 0 or ttl <= heartbeat_interval:
            raise ValueError("need 0 < heartbeat_interval < ttl")
        self.path = Path(path) if path is not None else default_path()
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._known = frozenset(services) if services is not None else None
        self._ttl = ttl
        self._interval = heartbeat_interval
        self._clock = clock
        # Instances this process registered: (service, id) -> (attributes, health).
        self._owned: dict[tuple[str, str], tuple[dict[str, str], HealthStatus]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    # -- file access -------------------------------------------------------

    def _read(self) -> State:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": _VERSION, "services": {}}
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise RegistryUnavailable(
                f"registry file {self.path} is not valid JSON: {exc}"
            ) from None
        if not isinstance(state, dict) or not isinstance(state.get("services"), dict):
            raise RegistryUnavailable(f"registry file {self.path} has an unknown layout")
        return state

    def _write(self, state: State) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".registry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _expire(self, state: State, now: float) -> bool:
        changed = False
        for name, svc in state["services"].items():
            instances = svc.get("instances", {})
            stale = [i for i, rec in instances.items() if now - _last_seen(rec) > self._ttl]
            for instance_id in stale:
                del instances[instance_id]
                logger.info(
                    "discovery: expired instance %r of %r (no heartbeat for %.1fs)",
                    instance_id,
                    name,
                    self._ttl,
                    extra={"service": name, "instance_id": instance_id},
                )
            if stale:
                svc["revision"] = int(svc.get("revision", 0)) + 1
                changed = True
        return changed

    def _transact_sync(self, change: Callable[[State, float], tuple[T, bool]]) -> T:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._lock_path, "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                state = self._read()
                now = self._clock()
                expired = self._expire(state, now)
                result, changed = change(state, now)
                if changed or expired:
                    self._write(state)
                return result
        except OSError as exc:
            raise RegistryUnavailable(f"registry file {self.path}: {exc}") from exc

    async def _transact(self, change: Callable[[State, float], tuple[T, bool]]) -> T:
        return await asyncio.to_thread(self._transact_sync, change)

    def _service(self, state: State, service: str) -> dict[str, Any]:
        if self._known is not None and service not in self._known:
            raise ServiceNotFound(f"service {service!r} not found")
        svc: dict[str, Any] = state["services"].setdefault(
            service, {"revision": 0, "instances": {}}
        )
        return svc

    # -- the Registry protocol --------------------------------------------

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None:
        attrs = {str(k): str(v) for k, v in attributes.items()}

        def change(state: State, now: float) -> tuple[HealthStatus, bool]:
            svc = self._service(state, service)
            old = svc["instances"].get(instance_id)
            health = HealthStatus.parse(old.get("health")) if old else initial_health(attrs)
            svc["instances"][instance_id] = _record(attrs, health, now)
            svc["revision"] = int(svc.get("revision", 0)) + 1
            return health, True

        health = await self._transact(change)
        self._owned[(service, instance_id)] = (attrs, health)
        self._start_heartbeat()

    async def deregister(self, service: str, instance_id: str) -> None:
        self._owned.pop((service, instance_id), None)

        def change(state: State, now: float) -> tuple[None, bool]:
            svc = self._service(state, service)
            if svc["instances"].pop(instance_id, None) is None:
                return None, False
            svc["revision"] = int(svc.get("revision", 0)) + 1
            return None, True

        await self._transact(change)

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None:
        status = HealthStatus.HEALTHY if healthy else HealthStatus.UNHEALTHY

        def change(state: State, now: float) -> tuple[None, bool]:
            rec = self._service(state, service)["instances"].get(instance_id)
            if rec is None:
                raise InstanceNotFound(f"instance {instance_id!r} of {service!r} not registered")
            rec["health"] = status.value  # the revision stays: health is not membership
            return None, True

        await self._transact(change)
        owned = self._owned.get((service, instance_id))
        if owned is not None:
            self._owned[(service, instance_id)] = (owned[0], status)

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> list[Instance]:
        def read(state: State, now: float) -> tuple[list[Instance], bool]:
            svc = self._service(state, service)
            found = [_instance(i, rec) for i, rec in svc["instances"].items()]
            return [i for i in found if i is not None], False

        instances = await self._transact(read)
        return filter_instances(instances, health=health, query=query, max_results=max_results)

    async def revision(self, service: str) -> int:
        def read(state: State, now: float) -> tuple[int, bool]:
            return int(self._service(state, service).get("revision", 0)), False

        return await self._transact(read)

    async def close(self) -> None:
        """Stop heartbeating; instances then expire. Deregister first to leave at once."""
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- heartbeat ---------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(
                self._beat_forever(), name=f"registry-heartbeat:{self.path}"
            )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.heartbeat()
            except Exception as exc:  # a missed beat is survivable; a dead task is not
                logger.warning("discovery: registry heartbeat failed: %s", exc)

    async def heartbeat(self) -> None:
        """Refresh this process's instances now (the task does it every interval)."""
        owned = dict(self._owned)
        if not owned:
            return

        def change(state: State, now: float) -> tuple[None, bool]:
            for (service, instance_id), (attrs, health) in owned.items():
                svc = self._service(state, service)
                rec = svc["instances"].get(instance_id)
                if rec is not None:
                    rec["last_seen"] = now
                else:  # expired while we were alive (paused): lease it again
                    svc["instances"][instance_id] = _record(attrs, health, now)
                    svc["revision"] = int(svc.get("revision", 0)) + 1
            return None, True

        await self._transact(change)


def _record(attrs: dict[str, str], health: HealthStatus, now: float) -> dict[str, Any]:
    return {"attributes": attrs, "health": health.value, "last_seen": now, "pid": os.getpid()}


def _last_seen(rec: Any) -> float:
    value = rec.get("last_seen") if isinstance(rec, dict) else None
    # A record without a usable timestamp counts as long dead, so it gets cleaned up.
    return float(value) if isinstance(value, int | float) else 0.0


def _instance(instance_id: str, rec: Any) -> Instance | None:
    attrs = rec.get("attributes") if isinstance(rec, dict) else None
    if not isinstance(attrs, dict):
        return None
    clean = {str(k): str(v) for k, v in attrs.items()}
    return Instance(instance_id, clean, HealthStatus.parse(rec.get("health")))
