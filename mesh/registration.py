"""A service's own registration in the registry, where nothing else does it.

Registered with its address once the port is bound, reported healthy once the
server is SERVING, and deregistered first thing at shutdown, before draining,
so callers stop picking it while in-flight calls finish.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING

from mesh.discovery import AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, Registry, RegistryError

if TYPE_CHECKING:
    from mesh.server import MeshServer

__all__ = ["Registration", "instance_id"]

log = logging.getLogger("mesh.registration")


def _version() -> str:
    try:
        return metadata.version("shop-mesh")
    except metadata.PackageNotFoundError:
        return "dev"


def instance_id(service: str, host: str, port: int) -> str:
    # Cloud Map ids allow [A-Za-z0-9._:/@-], up to 64 characters.
    return f"{service}-{host}-{port}"[:64]


class Registration:
    """Announces one server (a server lifecycle with ``announce``/``withdraw``)."""

    def __init__(
        self,
        registry: Registry,
        service: str,
        advertise_host: str,
        *,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.service = service
        self.advertise_host = advertise_host
        self.attributes = dict(attributes or {})
        self.instance_id = ""

    async def announce(self, server: MeshServer) -> None:
        self.instance_id = instance_id(self.service, self.advertise_host, server.port)
        attributes = {
            AWS_INSTANCE_IPV4: self.advertise_host,
            AWS_INSTANCE_PORT: str(server.port),
            "version": _version(),
            "pid": str(os.getpid()),
            **self.attributes,
        }
        await self.registry.register(
            self.service, self.instance_id, attributes, creator_request_id=self.instance_id
        )
        await self.registry.set_health(self.service, self.instance_id, True)
        log.info("registered", extra={"instance_id": self.instance_id, "attributes": attributes})

    async def withdraw(self) -> None:
        if not self.instance_id:
            return
        try:
            await self.registry.deregister(self.service, self.instance_id)
            log.info("deregistered", extra={"instance_id": self.instance_id})
        except RegistryError:
            # The instance expires or is cleaned up by the platform; shutdown goes on.
            log.exception("could not deregister", extra={"instance_id": self.instance_id})
