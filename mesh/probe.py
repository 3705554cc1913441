"""Container health check: exit 0 only when the target reports SERVING.

    python -m mesh.probe [--addr 127.0.0.1:50051] [--service NAME] [--timeout 2]
    python -m mesh.probe --http http://127.0.0.1:8080/healthz

Used as the ECS container health check, so the image needs no extra binary.
Exit codes: 0 serving, 1 not serving or unreachable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check_grpc(addr: str, service: str, timeout: float) -> tuple[bool, str]:
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def check_http(url: str, timeout: float) -> tuple[bool, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--http must be an http(s) URL, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - scheme checked
            return 200 <= reply.status < 300, f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, str(exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.probe", description=__doc__.splitlines()[0]
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--addr", default="127.0.0.1:50051", help="gRPC host:port")
    target.add_argument("--http", help="HTTP URL that answers 2xx when healthy")
    parser.add_argument("--service", default="", help="health service name ('' = whole server)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    opts = parser.parse_args(argv)
    if not 0 < opts.timeout <= 60:
        parser.error("--timeout must be in (0, 60]")
    try:
        if opts.http:
            ok, detail = check_http(opts.http, opts.timeout)
        else:
            ok, detail = check_grpc(opts.addr, opts.service, opts.timeout)
    except ValueError as exc:
        parser.error(str(exc))
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
