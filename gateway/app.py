"""The gateway as a plain ASGI application, and its composition root :func:`create_app`.

    app = create_app(LocalChannelProvider({"catalog": 50051}))
    # or, with the services of services.yaml and ports from it:
    app = create_app()

Per request: match the route (trie), transcode (prepared per route), call the
backend through the channel provider, write JSON. Everything that needs the
descriptors happens here at construction time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from gateway import ops
from gateway.accesslog import AccessLog
from gateway.asgi import Receive, Scope, Send, read_body, respond
from gateway.channels import ChannelProvider, LocalChannelProvider
from gateway.endpoint import Endpoint
from gateway.errors import (
    GatewayError,
    http_status_of,
    retry_after,
    status_body,
    status_from_rpc_error,
)
from gateway.guard import Guard
from gateway.headers import metadata_headers, read_headers
from gateway.openapi import OAuthUrls, build_openapi
from gateway.routes import Router
from gateway.rules import bindings_for, import_generated, resolve_services
from gateway.settings import Settings
from gateway.streaming import stream_response
from mesh.access import check_services
from mesh.principal import to_metadata

__all__ = ["Gateway", "create_app"]

log = logging.getLogger("gateway")


class Gateway:
    """ASGI 3 application. Build it with :func:`create_app`."""

    def __init__(
        self,
        router: Router[Endpoint],
        channels: ChannelProvider,
        settings: Settings,
        openapi: dict[str, Any],
        on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
        access_log: AccessLog | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.router = router
        self.channels = channels
        self.settings = settings
        self.openapi = openapi
        self.backends = sorted({e.backend for e in router.routes()})
        self.draining = False
        self._on_shutdown = on_shutdown or []
        self.access_log = access_log
        self.guard = guard or Guard(settings)
        self._forward = frozenset(h.encode() for h in settings.forward_headers)
        self._ops = ops.OpsEndpoints(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.guard.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # /readyz turns 503 first so a load balancer stops sending work.
                self.draining = True
                await self.guard.stop()
                for hook in self._on_shutdown:
                    await hook()
                if self.access_log is not None:
                    self.access_log.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        query = scope["query_string"].decode("latin-1")
        request_id = ""
        rpc = ""
        status = 500
        try:
            if path in self._ops.paths:
                status = await self._ops.handle(method, path, send)
                return
            info = read_headers(
                scope["headers"],
                self._forward,
                self.settings.default_timeout,
                self.settings.max_timeout,
            )
            request_id = info.request_id
            headers = [(b"x-request-id", request_id.encode())]
            match, allowed = self.router.match(method, path)
            if match is None:
                raise _no_route(method, path, allowed)
            endpoint = match.route
            rpc = endpoint.rpc
            principal = await self.guard.admit(
                endpoint.rule, info.authorization, scope.get("client"), info.forwarded_for
            )
            info.metadata.extend(to_metadata(principal))
            transcoder = endpoint.transcoder
            body = b""
            if transcoder.body:
                body = await read_body(receive, self.settings.max_body_bytes, info.content_length)
            request = transcoder.build_request(match.segments, query, body)
            call = endpoint.callable(self.channels.channel(endpoint.backend))(
                request,
                metadata=info.metadata,
                # A watch outlives a unary deadline: the front door streams for 15 min.
                timeout=self.settings.stream_timeout if transcoder.streaming else info.timeout,
            )
            if transcoder.streaming:
                status, error = await stream_response(
                    call,
                    transcoder,
                    receive,
                    send,
                    headers,
                    info.event_stream,
                    heartbeat=self.settings.stream_heartbeat_seconds,
                )
                if error is not None:
                    status = await self._rpc_error(send, error, headers)
                return
            try:
                response = await call
            except grpc.aio.AioRpcError as error:
                status = await self._rpc_error(send, error, headers)
                return
            headers.extend(
                metadata_headers(await call.initial_metadata(), await call.trailing_metadata())
            )
            status = 200
            await respond(send, 200, transcoder.render(response), headers)
        except GatewayError as error:
            status = error.http_status
            headers = [(b"x-request-id", request_id.encode())] if request_id else []
            headers.extend(error.headers)
            await respond(send, status, status_body(error.status()), headers)
        except Exception:
            # A gateway bug: still a JSON Status, and logged with its trace.
            log.exception("unhandled error on %s %s", method, path)
            status = 500
            body = status_body({"code": 13, "message": "internal gateway error", "details": []})
            await respond(send, 500, body, [])
        finally:
            if self.access_log is not None:
                self.access_log.write(
                    method, path, status, rpc, request_id, (time.perf_counter() - started) * 1000
                )

    async def _rpc_error(
        self, send: Send, error: grpc.aio.AioRpcError, headers: list[tuple[bytes, bytes]]
    ) -> int:
        status = status_from_rpc_error(error)
        http = http_status_of(status["code"])
        headers.extend(metadata_headers(error.initial_metadata(), error.trailing_metadata()))
        headers.extend(retry_after(http))
        await respond(send, http, status_body(status), headers)
        return http


def _no_route(method: str, path: str, allowed: set[str]) -> GatewayError:
    if allowed:
        methods = ", ".join(sorted(allowed))
        return GatewayError(
            f"method {method} not allowed on {path} (allowed: {methods})",
            http_status=405,
            code=grpc.StatusCode.UNIMPLEMENTED,
            headers=[(b"allow", methods.encode())],
        )
    return GatewayError(f"no route for {path}", http_status=404, code=grpc.StatusCode.NOT_FOUND)


def create_app(
    channels: ChannelProvider | None = None,
    *,
    services: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    generated_package: str | None = "shop",
) -> Gateway:
    """Build the gateway.

    ``services`` maps mesh service names to proto service names; by default the
    grpc entries of services.yaml. ``channels`` defaults to loopback ports from
    services.yaml. ``generated_package`` is imported so its descriptors are in
    the pool (None when the caller has imported its own).
    """
    settings = settings or Settings()
    on_shutdown: list[Callable[[], Awaitable[None]]] = []
    if services is None:
        from mesh.topology import load_topology

        topology = load_topology()
        services = {
            s.name: s.grpc_service
            for s in topology.services.values()
            if s.protocol == "grpc" and s.grpc_service
        }
    if channels is None:
        local = LocalChannelProvider.from_topology()
        on_shutdown.append(local.close)
        channels = local
    if generated_package:
        import_generated(generated_package)
    descriptors = resolve_services(services)
    check_services(descriptors)
    bindings = bindings_for(descriptors)
    router: Router[Endpoint] = Router(Endpoint(b) for b in bindings)
    oauth = None
    if settings.oauth_token_url and settings.oauth_authorize_url:
        prefix = settings.jwt.scope_prefix if settings.jwt is not None else ""
        oauth = OAuthUrls(settings.oauth_authorize_url, settings.oauth_token_url, prefix)
    openapi = build_openapi(bindings, descriptors, oauth=oauth)
    log.info("gateway: %d routes for %s", len(router), ", ".join(sorted(services)))
    access_log = AccessLog() if settings.access_log else None
    return Gateway(router, channels, settings, openapi, on_shutdown, access_log)
