"""The gateway as a plain ASGI application, and its one composition root :func:`create_app`.

    app = create_app(LocalChannelProvider({"catalog": 50051}))   # fixed addresses (tests)
    app = create_app()   # production: backends through the registry, settings from the environment

Per request: match the route (trie), transcode (prepared per route), call the
backend through the channel provider, write JSON. Everything that needs the
descriptors happens here at construction time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from gateway import ops
from gateway.asgi import Receive, Scope, Send, read_body, respond
from gateway.channels import ChannelProvider
from gateway.drain import Drain
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
from gateway.settings import Settings, SettingsError
from gateway.sourceinfo import load_comments
from gateway.streaming import stream_response
from gateway.web import WebConfigError, WebRoot, web_config
from mesh.access import check_services
from mesh.accesslog import AccessLog
from mesh.metrics import Metrics
from mesh.principal import to_metadata
from mesh.telemetry import TRACEPARENT, EntrySpan, Telemetry, ids_of, traceparent

if TYPE_CHECKING:
    from mesh.config import Settings as MeshSettings

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
        *,
        drain: Drain | None = None,
        telemetry: Telemetry | None = None,
        metrics: Metrics | None = None,
        on_startup: list[Callable[[], Awaitable[None]]] | None = None,
        web: WebRoot | None = None,
    ) -> None:
        self.router = router
        self.channels = channels
        self.settings = settings
        self.openapi = openapi
        self.backends = sorted({e.backend for e in router.routes()})
        self.drain = drain or Drain()
        self._on_startup = on_startup or []
        self._on_shutdown = on_shutdown or []
        self.access_log = access_log
        self.guard = guard or Guard(settings)
        self.tracer = telemetry.tracer if telemetry is not None else None
        # The telemetry that decides sampling at the front door: None when not tracing.
        self._tracing = telemetry if self.tracer is not None else None
        self.metrics = metrics or Metrics("gateway")
        self._forward = frozenset(h.encode() for h in settings.forward_headers)
        self._ops = ops.OpsEndpoints(self, self.drain)
        self._span_shapes: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
        self.web = web

    @property
    def draining(self) -> bool:
        return self.drain.draining

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
                for hook in self._on_startup:
                    await hook()
                await self.guard.start()
                self.metrics.serving.set(1)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # /readyz turns 503 first so a load balancer stops sending work.
                self.drain.begin()
                self.metrics.serving.set(0)
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
        rpc = route = ""
        status = 500
        code = "UNKNOWN"
        span: EntrySpan | None = None
        trace_id = span_id = ""
        metrics = self.metrics
        metrics.http_in_flight.inc()
        try:
            if path in self._ops.paths:
                route = path
                status = await self._ops.handle(method, path, send, scope["headers"])
                code = "OK" if status < 400 else "UNAVAILABLE"
                return
            web = self.web
            if web is not None and web.owns(path):
                route = "/*web"
                status = await web.handle(method, path, scope["headers"], send)
                code = "OK" if status < 400 else "NOT_FOUND"
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
            if match is not None:
                route = match.route.template.source
            if self._tracing is not None:
                # Decided once the route is known, so a recorded span's name and
                # attributes are given at once (cheaper than renaming and adding after).
                name, attributes = self._span_shape(method, route)
                entry = self._tracing.entry(info.traceparent, name, attributes)
                if isinstance(entry, str):
                    # Not recorded: no span, only the ids every hop logs.
                    trace_id, span_id = ids_of(entry)
                    info.metadata.append((TRACEPARENT, entry))
                else:
                    span = entry
                    ids = span.context
                    trace_id, span_id = format(ids.trace_id, "032x"), format(ids.span_id, "016x")
                    info.metadata.append((TRACEPARENT, traceparent(ids)))
                headers.append((b"x-trace-id", trace_id.encode()))
            elif info.traceparent is not None:
                # Not tracing here: the caller's context travels on as it came.
                info.metadata.append((TRACEPARENT, info.traceparent))
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
                code = "OK"
                if error is not None:
                    code = error.code().name
                    status = await self._rpc_error(send, error, headers)
                return
            try:
                response = await call
            except grpc.aio.AioRpcError as error:
                code = error.code().name
                status = await self._rpc_error(send, error, headers)
                return
            headers.extend(
                metadata_headers(await call.initial_metadata(), await call.trailing_metadata())
            )
            status = 200
            code = "OK"
            await respond(send, 200, transcoder.render(response), headers)
        except GatewayError as error:
            status = error.http_status
            code = error.code.name
            headers = [(b"x-request-id", request_id.encode())] if request_id else []
            if trace_id:
                headers.append((b"x-trace-id", trace_id.encode()))
            headers.extend(error.headers)
            await respond(send, status, status_body(error.status()), headers)
        except Exception:
            # A gateway bug: still a JSON Status, and logged with its trace.
            status, code = 500, "INTERNAL"
            if span is not None:
                with trace.use_span(NonRecordingSpan(span.context), end_on_exit=False):
                    log.exception("unhandled error on %s %s", method, route or "(no route)")
            else:
                log.exception("unhandled error on %s %s", method, route or "(no route)")
            body = status_body({"code": 13, "message": "internal gateway error", "details": []})
            await respond(send, 500, body, [])
        finally:
            seconds = time.perf_counter() - started
            metrics.http_in_flight.dec()
            metrics.http_done(route, method, status, seconds)
            if span is not None:
                span.end(status, code)
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.request(
                    method,
                    route,
                    path,
                    status,
                    code,
                    rpc,
                    seconds * 1000,
                    request_id,
                    f"{client[0]}:{client[1]}" if client else "",
                    trace_id,
                    span_id,
                )

    def _span_shape(self, method: str, route: str) -> tuple[str, dict[str, str]]:
        """The gateway span's name and attributes per method and route, made once each."""
        key = (method, route)
        shape = self._span_shapes.get(key)
        if shape is None:
            attributes = {"http.request.method": method}
            if route:
                attributes["http.route"] = route
            shape = (f"{method} {route}" if route else method, attributes)
            if len(self._span_shapes) < 4096:  # methods are free text; routes are not
                self._span_shapes[key] = shape
        return shape

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
    mesh_settings: MeshSettings | None = None,
    telemetry: Telemetry | None = None,
    metrics: Metrics | None = None,
    drain: Drain | None = None,
    generated_package: str | None = "shop",
    comments: Mapping[str, str] | None = None,
) -> Gateway:
    """Build the gateway: the one place its parts are put together.

    Every part has a production default and can be passed instead (tests pass
    their own channels). ``channels`` defaults to the mesh's discovery-backed
    channels to the gateway's ``depends_on`` in services.yaml (started and
    stopped with the server's lifespan), found through ``mesh_settings``
    (``MESH_*``, read from the environment when not given), which also say
    how to trace (``telemetry``); with ``channels`` given and no telemetry,
    nothing is traced. ``services`` maps mesh service names to proto service
    names; by default the grpc entries of services.yaml. ``generated_package``
    is imported so its descriptors are in the pool (None when the caller has
    imported its own); the contracts' comments for the OpenAPI document come
    from its descriptor set with source info, unless ``comments`` are given.
    """
    settings = settings or Settings()
    on_startup: list[Callable[[], Awaitable[None]]] = []
    on_shutdown: list[Callable[[], Awaitable[None]]] = []
    if channels is None:
        from gateway.discovery import discovery_channels
        from mesh.config import load_settings
        from mesh.topology import load_topology

        topology = load_topology()
        mesh_settings = mesh_settings or load_settings("gateway", topology=topology)
        provider, watched = discovery_channels(mesh_settings, topology)
        on_startup.append(watched.start)
        on_shutdown.append(watched.stop)
        channels = provider
        if services is None:
            services = provider.services
    if services is None:
        from mesh.topology import load_topology

        topology = load_topology()
        services = {
            s.name: s.grpc_service
            for s in topology.services.values()
            if s.protocol == "grpc" and s.grpc_service
        }
    replica = mesh_settings.telemetry.replica if mesh_settings is not None else "0"
    if telemetry is None:
        telemetry = (
            Telemetry.from_settings(mesh_settings.telemetry)
            if mesh_settings is not None
            else Telemetry.off("gateway")
        )
        owned = telemetry

        async def flush_spans() -> None:
            owned.shutdown()  # made here, so ended here: what is queued is exported

        on_shutdown.append(flush_spans)
    metrics = metrics or Metrics("gateway", replica)
    observe = mesh_settings.telemetry if mesh_settings is not None else None
    if observe is not None and observe.metrics_port is not None:
        from mesh.metrics import MetricsServer

        endpoint = MetricsServer(metrics, observe.metrics_host, observe.metrics_port)
        on_startup.append(endpoint.start)
        on_shutdown.append(endpoint.stop)
    if generated_package:
        import_generated(generated_package)
    descriptors = resolve_services(services)
    check_services(descriptors)
    bindings = bindings_for(descriptors)
    router: Router[Endpoint] = Router(Endpoint(b) for b in bindings)
    prefix = settings.jwt.scope_prefix if settings.jwt is not None else ""
    oauth = None
    if settings.oauth_token_url and settings.oauth_authorize_url:
        oauth = OAuthUrls(settings.oauth_authorize_url, settings.oauth_token_url, prefix)
    if comments is None:
        comments = load_comments(generated_package) if generated_package else {}
    openapi = build_openapi(bindings, descriptors, oauth=oauth, comments=comments)
    log.info("gateway: %d routes for %s", len(router), ", ".join(sorted(services)))
    access_log = (
        AccessLog("gateway", replica=replica, logger="gateway.access")
        if settings.access_log
        else None
    )
    web = None
    if settings.web_root:
        config = web_config(
            settings.oauth_authorize_url,
            settings.oauth_token_url,
            settings.web_client_id,
            settings.oauth_logout_url,
            prefix,
        )
        first = {str(e.template.segments[0]) for e in router.routes() if e.template.segments}
        try:
            web = WebRoot(Path(settings.web_root), first, config)
        except (WebConfigError, OSError) as exc:
            raise SettingsError(f"MESH_GATEWAY_WEB_ROOT: {exc}") from None
    return Gateway(
        router,
        channels,
        settings,
        openapi,
        on_shutdown,
        access_log,
        drain=drain,
        telemetry=telemetry,
        metrics=metrics,
        on_startup=on_startup,
        web=web,
    )
