"""Operational endpoints: liveness, readiness, the OpenAPI document and the docs page."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2

from gateway.asgi import Send, accepts_gzip, respond
from gateway.docs import Asset, docs_assets, docs_page, page_headers
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.drain import Drain

__all__ = ["OpsEndpoints"]

_CHECK = "/grpc.health.v1.Health/Check"
_HTML = b"text/html; charset=utf-8"
READY_TIMEOUT = 1.0


# The API's own description: public, like the reads it describes (API Gateway
# routes these past its authorizer too). Route keys: `{asset}` is one segment,
# the docs page's files (gateway/docs.py).
DOCUMENT_PATHS = ("/openapi.json", "/docs", "/docs/{asset}")
DOCS_PREFIX = "/docs/"


class OpsEndpoints:
    def __init__(self, gateway: Gateway, drain: Drain) -> None:
        self._gateway = gateway
        self._drain = drain
        self._openapi = json.dumps(gateway.openapi, separators=(",", ":")).encode()
        self._assets = docs_assets()
        self._docs = docs_page(gateway.openapi["info"]["title"], self._assets)
        oauth = gateway.settings.oauth_token_url
        self._page_headers = page_headers((oauth,) if oauth else ())
        # Exact paths only: the router's hot path pays one set lookup, as before.
        self.paths = frozenset(
            {
                "/healthz",
                "/readyz",
                "/openapi.json",
                "/docs",
                *(DOCS_PREFIX + name for name in self._assets.by_name),
            }
        )

    async def handle(
        self, method: str, path: str, send: Send, headers: list[tuple[bytes, bytes]]
    ) -> int:
        if method not in ("GET", "HEAD"):
            raise GatewayError(
                f"method {method} not allowed on {path} (allowed: GET)",
                http_status=405,
                code=grpc.StatusCode.UNIMPLEMENTED,
                headers=[(b"allow", b"GET")],
            )
        if path == "/healthz":
            await respond(send, 200, b'{"status":"ok"}', [])
            return 200
        if path == "/readyz":
            return await self._ready(send)
        if path == "/openapi.json":
            await respond(send, 200, self._openapi, [(b"cache-control", b"no-cache")])
            return 200
        if path == "/docs":
            await respond(send, 200, self._docs, list(self._page_headers), _HTML)
            return 200
        return await self._asset(self._assets.by_name[path[len(DOCS_PREFIX) :]], headers, send)

    async def _asset(self, asset: Asset, headers: list[tuple[bytes, bytes]], send: Send) -> int:
        out = [(b"cache-control", asset.cache_control), (b"x-content-type-options", b"nosniff")]
        if asset.content_type == _HTML:  # oauth2-redirect.html: a page, so its policy too
            out = [h for h in self._page_headers if h[0] != b"cache-control"] + out
        body = asset.body
        if asset.compressible:
            out.append((b"vary", b"accept-encoding"))
            if _takes_gzip(headers):
                # The first time, off the event loop: the bundle takes a few hundred ms.
                ready = asset.gzipped()
                body = ready if ready is not None else await asyncio.to_thread(asset.compress)
                out.append((b"content-encoding", b"gzip"))
        await respond(send, 200, body, out, asset.content_type)
        return 200

    async def _ready(self, send: Send) -> int:
        gateway = self._gateway
        backends = gateway.backends
        results = await asyncio.gather(*(self._check(name) for name in backends))
        report: dict[str, Any] = dict(zip(backends, results, strict=True))
        draining = self._drain.draining
        ready = not draining and all(r == "SERVING" for r in results)
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "backends": report}
        if draining:
            body["draining"] = True
        status = 200 if ready else 503
        await respond(send, status, json.dumps(body).encode(), [])
        return status

    async def _check(self, backend: str) -> str:
        try:
            channel = self._gateway.channels.channel(backend)
            check = channel.unary_unary(
                _CHECK,
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            # "" is the whole server's health, what every mesh service reports.
            response = await check(health_pb2.HealthCheckRequest(service=""), timeout=READY_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            return error.code().name
        except LookupError:
            return "UNKNOWN_SERVICE"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def _takes_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"accept-encoding" and accepts_gzip(value) for name, value in headers)
