"""Operational endpoints: liveness, readiness, the OpenAPI document and the docs page."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2

from gateway.asgi import Send, respond
from gateway.docs import render_docs
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.drain import Drain

__all__ = ["OpsEndpoints"]

_CHECK = "/grpc.health.v1.Health/Check"
READY_TIMEOUT = 1.0


# The API's own description: public, like the reads it describes (API Gateway
# routes these past its authorizer too).
DOCUMENT_PATHS = ("/openapi.json", "/docs")


class OpsEndpoints:
    paths = frozenset({"/healthz", "/readyz", *DOCUMENT_PATHS})

    def __init__(self, gateway: Gateway, drain: Drain) -> None:
        self._gateway = gateway
        self._drain = drain
        self._openapi = json.dumps(gateway.openapi, separators=(",", ":")).encode()
        self._docs = render_docs(gateway.openapi).encode()

    async def handle(self, method: str, path: str, send: Send) -> int:
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
            await respond(send, 200, self._openapi, [])
            return 200
        await respond(send, 200, self._docs, [], b"text/html; charset=utf-8")
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
