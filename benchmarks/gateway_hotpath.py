"""The gateway's own Python per request, without sockets or a backend.

    python -m benchmarks.gateway_hotpath [--requests N] [--profile] [--auth none|cached|verify]

Drives the ASGI app directly with the benchmark's echo request, through an
in-memory channel whose calls answer at once, so the figure is what the
gateway adds on top of uvicorn and grpc.aio (µs per request, best of 5).
The rate limit is off (one client would get 429s after the burst). ``--auth``
sends one bearer token on every request, verified against the local issuer's
JWKS with the verified-token cache on (``cached``) or off (``verify``); by
default there is no token and auth is off. ``--profile`` prints the top
cProfile entries instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from gateway import Settings, create_app
from gateway.auth import JwtSettings
from mesh.issuer import LocalIssuer, serve_jwks
from tests.gateway_support.echo import SERVICE, compile_echo

PAYLOAD = json.dumps({"name": "bench", "i32": 7, "tags": ["a", "b"], "color": "COLOR_RED"}).encode()


class _Call:
    """Quacks like a finished grpc.aio unary call."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def __await__(self) -> Generator[Any, None, Any]:
        return self._response
        yield  # pragma: no cover - makes this a generator

    async def initial_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    async def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


class _Channel:
    def __init__(self, pb2: Any) -> None:
        self._pb2 = pb2

    def unary_unary(
        self,
        path: str,
        request_serializer: Any,
        response_deserializer: Any,
        _registered_method: bool = False,
    ) -> Any:
        pb2 = self._pb2

        def call(request: Any, metadata: Any = None, timeout: Any = None) -> _Call:
            request_serializer(request)
            return _Call(pb2.EchoResponse(request=request, rpc="Echo"))

        return call

    unary_stream = unary_unary


class _Provider:
    def __init__(self, pb2: Any) -> None:
        self._channel = _Channel(pb2)

    def channel(self, service: str) -> Any:
        return self._channel


class _Sink(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


async def _drive(app: Any, requests: int, authorization: bytes = b"") -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/echo",
        "raw_path": b"/v1/echo",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(PAYLOAD)).encode()),
            *([(b"authorization", authorization)] if authorization else []),
        ],
    }
    message = {"type": "http.request", "body": PAYLOAD, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: Any) -> None:
        return None

    async def check(event: Any) -> None:
        if event["type"] == "http.response.start" and event["status"] != 200:
            raise RuntimeError(f"the gateway answered {event['status']}, not 200")

    await app(scope, receive, check)  # what is timed is a success, not an error path
    for _ in range(requests - 1):
        await app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--auth", choices=("none", "cached", "verify"), default="none")
    opts = parser.parse_args()
    pb2, _ = compile_echo(Path(tempfile.mkdtemp(prefix="hotpath-echo-")))
    loop = asyncio.new_event_loop()
    jwt, authorization, jwks = None, b"", None
    if opts.auth != "none":
        issuer = LocalIssuer.load_or_create(Path(tempfile.mkdtemp(prefix="hotpath-issuer-")))
        # Served from this loop; the gateway fetches it in a thread on the first token.
        jwks = loop.run_until_complete(serve_jwks(issuer))
        cache_size = JwtSettings("", "", "").cache_size if opts.auth == "cached" else 0
        jwt = JwtSettings(issuer.issuer, jwks.url, issuer.audience, cache_size=cache_size)
        authorization = b"Bearer " + issuer.mint("bench", ["echo.write"], ttl=3600).encode()
    settings = Settings(access_log=not opts.no_access_log, jwt=jwt, rate_limit_rps=0)
    app = create_app(
        _Provider(pb2), services={"echo": SERVICE}, settings=settings, generated_package=None
    )
    from mesh.logs import configure_logging

    sys.stderr = _Sink()  # the access log's cost counts, not the terminal's
    try:
        configure_logging("gateway", "INFO")
        loop.run_until_complete(_drive(app, 1000, authorization))
        if opts.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            loop.run_until_complete(_drive(app, opts.requests, authorization))
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            result = out.getvalue()
        else:
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                loop.run_until_complete(_drive(app, opts.requests, authorization))
                best = min(best, time.perf_counter() - t0)
            result = f"gateway hot path (auth {opts.auth}): {best / opts.requests * 1e6:.1f} us/request\n"
    finally:
        sys.stderr = sys.__stderr__
        if jwks is not None:
            loop.run_until_complete(jwks.close())
    print(result, end="")


if __name__ == "__main__":
    main()
