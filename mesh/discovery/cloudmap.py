"""AWS Cloud Map through boto3 ``servicediscovery``.

Correct for AWS, where it differs from the emulator the tests use (moto):

- **Revision** changes on register/deregister only, never on health
  changes. Nothing here derives health from the revision; the endpoint
  watcher refetches when the revision moves *and* on a periodic full refresh,
  which is what makes health changes visible. Moto's revision is a sum of
  per-instance counters that can go down or come back to an old value; the
  code only ever compares revisions for inequality, and tests assert "it
  changed", never a value or a direction.
- **Custom health** (UpdateInstanceCustomHealthStatus) applies after about
  30 s on AWS, at once on moto. Tests that change health poll for the
  outcome with a deadline (``eventually``) instead of asserting right after
  the call, so they hold on either. Calling it on a service without a
  custom health config fails on AWS with ``CustomHealthNotFound``: that is
  logged once and ignored (such a service's health comes from elsewhere);
  moto does not reproduce it, so it is untested here.
- **Register/deregister are asynchronous** on AWS (an OperationId). With
  ``operation_timeout`` set, the call polls GetOperation until SUCCESS,
  raises on FAIL and logs on timeout; moto reports SUCCESS at once.
- **Re-registering an id** updates it on AWS; moto stores a duplicate.
  DiscoverInstances results are de-duplicated by id (harmless on AWS).
- **ListServices' namespace filter** is ignored by moto; every candidate
  service is confirmed with GetService before its id is cached.

DiscoverInstances/DiscoverInstancesRevision go to the ``data-`` host on
AWS; with an explicit ``endpoint_url`` (an emulator, a VPC endpoint) the
prefix is switched off. boto3 is synchronous, so every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import botocore.exceptions

from mesh.awsconfig import client_config
from mesh.discovery.model import HealthFilter, HealthStatus, Instance
from mesh.discovery.registry import (
    DEFAULT_MAX_RESULTS,
    InstanceNotFound,
    RegistryError,
    RegistryThrottled,
    RegistryUnavailable,
    ServiceNotFound,
)

if TYPE_CHECKING:
    from mypy_boto3_servicediscovery import ServiceDiscoveryClient

__all__ = ["CloudMapRegistry", "translate_error"]

logger = logging.getLogger("mesh.discovery")

T = TypeVar("T")

_THROTTLED = frozenset(
    {"RequestLimitExceeded", "ThrottlingException", "Throttling", "TooManyRequestsException"}
)
_TRANSIENT = _THROTTLED | frozenset(
    {
        "ServiceUnavailable",
        "InternalFailure",
        "RequestTimeout",
    }
)


def translate_error(exc: Exception, what: str) -> RegistryError:
    """Map a boto3/botocore exception onto the registry's error hierarchy."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = f"cloud map {what}: {code}: {exc}"
        if code in _THROTTLED or status == 429:
            return RegistryThrottled(message)
        if code in _TRANSIENT or status >= 500:
            return RegistryUnavailable(message)
        if code in ("ServiceNotFound", "NamespaceNotFound"):
            return ServiceNotFound(message)
        if code == "InstanceNotFound":
            return InstanceNotFound(message)
        return RegistryError(message)
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return RegistryUnavailable(f"cloud map {what}: unreachable: {exc}")
    return RegistryError(f"cloud map {what}: {exc}")


class CloudMapRegistry:
    """A :class:`~mesh.discovery.registry.Registry` on one Cloud Map namespace.

    ``namespace`` is the namespace's HTTP name (what DiscoverInstances takes).
    Credentials come from boto3's usual chain. Retries use botocore's
    ``standard`` mode with ``max_attempts``; timeouts bound every call.
    """

    def __init__(
        self,
        namespace: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 3,
        operation_timeout: float | None = 10.0,
        client: ServiceDiscoveryClient | None = None,
    ) -> None:
        self.namespace = namespace
        self._operation_timeout = operation_timeout
        if client is None:
            config = client_config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_attempts=max_attempts,
                # An explicit endpoint has no data- sibling host.
                inject_host_prefix=endpoint_url is None,
            )
            session = boto3.session.Session(region_name=region)
            client = session.client("servicediscovery", endpoint_url=endpoint_url, config=config)
        self._client = client
        self._namespace_id: str | None = None
        self._service_ids: dict[str, str] = {}
        self._health_unsupported: set[str] = set()

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise translate_error(exc, what) from exc

    # -- name -> id resolution (control-plane calls, cached) ---------------

    def _find_namespace_id(self) -> str:
        for page in self._client.get_paginator("list_namespaces").paginate():
            for ns in page.get("Namespaces", []):
                http_name = ns.get("Properties", {}).get("HttpProperties", {}).get("HttpName")
                if self.namespace in (http_name, ns.get("Name")) and "Id" in ns:
                    return ns["Id"]
        raise ServiceNotFound(f"cloud map namespace {self.namespace!r} not found")

    def _find_service_id(self, service: str) -> str:
        if self._namespace_id is None:
            self._namespace_id = self._find_namespace_id()
        ns_id = self._namespace_id
        pages = self._client.get_paginator("list_services").paginate(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [ns_id], "Condition": "EQ"}]
        )
        for page in pages:
            for summary in page.get("Services", []):
                if summary.get("Name") != service or "Id" not in summary:
                    continue
                full = self._client.get_service(Id=summary["Id"])["Service"]
                if full.get("NamespaceId") == ns_id:
                    return summary["Id"]
        raise ServiceNotFound(f"cloud map service {service!r} not found in {self.namespace!r}")

    async def _service_id(self, service: str) -> str:
        cached = self._service_ids.get(service)
        if cached is None:
            cached = await self._call("ListServices", lambda: self._find_service_id(service))
            self._service_ids[service] = cached
        return cached

    async def _by_id(self, service: str, what: str, fn: Callable[[str], T]) -> T:
        service_id = await self._service_id(service)
        try:
            return await self._call(what, lambda: fn(service_id))
        except ServiceNotFound:
            # Deleted and re-created (a new id): forget, so the next call looks it up again.
            self._service_ids.pop(service, None)
            self._namespace_id = None
            raise

    def _wait_operation(self, operation_id: str, what: str) -> None:
        if self._operation_timeout is None:
            return
        deadline = time.monotonic() + self._operation_timeout
        while True:
            op = self._client.get_operation(OperationId=operation_id)["Operation"]
            status = op.get("Status")
            if status == "SUCCESS":
                return
            if status == "FAIL":
                raise RegistryError(
                    f"cloud map {what} failed: {op.get('ErrorCode')}: {op.get('ErrorMessage')}"
                )
            if time.monotonic() >= deadline:
                logger.warning("discovery: cloud map %s still %s, not waiting", what, status)
                return
            time.sleep(0.5)

    # -- the Registry protocol --------------------------------------------

    async def register(
        self,
        service: str,
        instance_id: str,
        attributes: Mapping[str, str],
        *,
        creator_request_id: str | None = None,
    ) -> None:
        attrs = dict(attributes)

        def call(service_id: str) -> None:
            # Without an explicit id botocore fills CreatorRequestId with a fresh token
            # and reuses it across its own retries, which keeps them idempotent.
            extra: dict[str, Any] = {}
            if creator_request_id is not None:
                extra["CreatorRequestId"] = creator_request_id
            out = self._client.register_instance(
                ServiceId=service_id, InstanceId=instance_id, Attributes=attrs, **extra
            )
            self._wait_operation(out["OperationId"], "RegisterInstance")

        await self._by_id(service, "RegisterInstance", call)

    async def deregister(self, service: str, instance_id: str) -> None:
        def call(service_id: str) -> None:
            out = self._client.deregister_instance(ServiceId=service_id, InstanceId=instance_id)
            self._wait_operation(out["OperationId"], "DeregisterInstance")

        with contextlib.suppress(InstanceNotFound):  # already gone: the goal of deregistering
            await self._by_id(service, "DeregisterInstance", call)

    async def set_health(self, service: str, instance_id: str, healthy: bool) -> None:
        status: Any = "HEALTHY" if healthy else "UNHEALTHY"

        def call(service_id: str) -> None:
            self._client.update_instance_custom_health_status(
                ServiceId=service_id, InstanceId=instance_id, Status=status
            )

        try:
            await self._by_id(service, "UpdateInstanceCustomHealthStatus", call)
        except RegistryError as exc:
            if "CustomHealthNotFound" not in str(exc):
                raise
            if service not in self._health_unsupported:
                self._health_unsupported.add(service)
                logger.info("discovery: %r has no custom health config; not reporting", service)

    async def discover(
        self,
        service: str,
        *,
        health: HealthFilter = HealthFilter.HEALTHY_OR_ELSE_ALL,
        query: Mapping[str, str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
    ) -> list[Instance]:
        params: dict[str, Any] = {
            "NamespaceName": self.namespace,
            "ServiceName": service,
            "MaxResults": max_results,
            "HealthStatus": health.value,
        }
        if query:
            params["QueryParameters"] = dict(query)
        out = await self._call(
            "DiscoverInstances", lambda: self._client.discover_instances(**params)
        )
        found: dict[str, Instance] = {}
        for summary in out.get("Instances", []):
            instance_id = summary.get("InstanceId")
            if instance_id:
                found[instance_id] = Instance(
                    instance_id,
                    summary.get("Attributes", {}),
                    HealthStatus.parse(summary.get("HealthStatus")),
                )
        return list(found.values())

    async def revision(self, service: str) -> int:
        out = await self._call(
            "DiscoverInstancesRevision",
            lambda: self._client.discover_instances_revision(
                NamespaceName=self.namespace, ServiceName=service
            ),
        )
        return int(out.get("InstancesRevision", 0))

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
