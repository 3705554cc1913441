"""Channels to other services by name, and one way to call them.

Every outbound call goes through :meth:`Clients.call`: it gets a deadline (the
default, capped by the inbound call's), carries the request id, and turns a
failed call back into a :class:`~mesh.errors.MeshError` with its details, so an
upstream error travels on unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from grpc import aio

from mesh.context import current_request_id, remaining
from mesh.errors import DeadlineExceeded, MeshError, Unavailable, from_rpc_error
from mesh.interceptors import REQUEST_ID_HEADER

__all__ = ["Clients"]

Resp = TypeVar("Resp")


class Clients:
    """Lazily opened channels to this service's dependencies; a server lifecycle."""

    def __init__(self, addrs: Mapping[str, str], *, call_timeout: float = 5.0) -> None:
        self.addrs = dict(addrs)
        self.call_timeout = call_timeout
        self._channels: dict[str, aio.Channel] = {}

    def channel(self, service: str) -> aio.Channel:
        channel = self._channels.get(service)
        if channel is None:
            try:
                target = self.addrs[service]
            except KeyError:
                raise Unavailable(
                    f"no address for service {service!r}", reason="UNKNOWN_SERVICE"
                ) from None
            channel = aio.insecure_channel(target)
            self._channels[service] = channel
        return channel

    async def call(
        self, method: Callable[..., Awaitable[Resp]], request: Any, *, timeout: float | None = None
    ) -> Resp:
        budget = remaining(self.call_timeout if timeout is None else timeout)
        if budget <= 0:
            raise DeadlineExceeded(
                "no time left for an outbound call", reason="DEADLINE_PROPAGATED"
            )
        request_id = current_request_id()
        metadata = ((REQUEST_ID_HEADER, request_id),) if request_id else None
        try:
            response: Resp = await method(request, timeout=budget, metadata=metadata)
        except aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        except grpc.RpcError as exc:  # pragma: no cover - sync errors do not occur on aio channels
            raise MeshError(str(exc)) from None
        return response

    async def start(self, server: Any) -> None:
        return None

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close(None)
