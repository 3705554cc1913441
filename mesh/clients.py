"""Channels to other services by name, and one way to call them.

Every outbound call goes through :meth:`Clients.call`: it gets a deadline (the
default, capped by the inbound call's), carries the request id, and turns a
failed call back into a :class:`~mesh.errors.MeshError` with its details, so an
upstream error travels on unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from grpc import aio

from mesh.context import current_principal, current_request_id, remaining
from mesh.errors import DeadlineExceeded, MeshError, Unavailable, from_rpc_error
from mesh.interceptors import REQUEST_ID_HEADER
from mesh.principal import to_metadata

__all__ = ["ChannelSource", "Clients"]

Resp = TypeVar("Resp")


class ChannelSource(Protocol):
    def channel(self, service: str) -> aio.Channel: ...


class Clients:
    """Outbound calls by service name over a channel source (a server lifecycle).

    >>> clients = Clients(ServiceChannels(registry, {...}))
    >>> reply = await clients.call(stub.GetProduct, request)
    """

    def __init__(self, channels: ChannelSource, *, call_timeout: float = 5.0) -> None:
        self.channels = channels
        self.call_timeout = call_timeout
        self._stubs: dict[tuple[str, Any], tuple[aio.Channel, Any]] = {}

    def channel(self, service: str) -> aio.Channel:
        return self.channels.channel(service)

    def stub(self, service: str, factory: Callable[[aio.Channel], Any]) -> Any:
        """A stub on the service's current channel, made once per channel, not per call."""
        channel = self.channel(service)
        key = (service, factory)
        cached = self._stubs.get(key)
        if cached is None or cached[0] is not channel:
            # The channel is replaced when the endpoint set changes; so is its stub.
            cached = self._stubs[key] = (channel, factory(channel))
        return cached[1]

    async def call(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Any,
        *,
        timeout: float | None = None,
        service: str = "",
        on_behalf_of_caller: bool = False,
    ) -> Resp:
        """Call ``method`` with a deadline and the request id.

        ``on_behalf_of_caller`` passes the inbound call's principal on (the
        callee then acts for that user: ownership, scopes); never by default,
        so a peer call is the mesh's own unless a servicer says otherwise. With
        mutual TLS the callee believes it only from services marked
        ``forwards_principal`` in services.yaml.
        """
        budget = remaining(self.call_timeout if timeout is None else timeout)
        if budget <= 0:
            raise DeadlineExceeded(
                "no time left for an outbound call", reason="DEADLINE_PROPAGATED"
            )
        request_id = current_request_id()
        pairs = ((REQUEST_ID_HEADER, request_id),) if request_id else ()
        if on_behalf_of_caller:
            pairs = (*pairs, *to_metadata(current_principal()))
        metadata = pairs or None
        try:
            response: Resp = await method(request, timeout=budget, metadata=metadata)
        except aio.AioRpcError as exc:
            error = from_rpc_error(exc)
            if isinstance(error, Unavailable) and not error.domain and service:
                # A transport failure (no endpoint answered) names the service it was for.
                raise Unavailable(
                    f"service {service!r} is unavailable: {error.message}",
                    reason="SERVICE_UNAVAILABLE",
                    metadata={"service": service},
                ) from None
            raise error from None
        except grpc.RpcError as exc:  # pragma: no cover - sync errors do not occur on aio channels
            raise MeshError(str(exc)) from None
        return response

    async def start(self, server: Any = None) -> None:
        start = getattr(self.channels, "start", None)
        if start is not None:
            await start(server)

    async def stop(self) -> None:
        stop = getattr(self.channels, "stop", None)
        if stop is not None:
            await stop()
