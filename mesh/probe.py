"""Container health check: exit 0 only when the target reports SERVING.

    python -m mesh.probe [--addr 127.0.0.1:50051] [--service NAME] [--timeout 2]
                         [--server-name NAME]
    python -m mesh.probe --http http://127.0.0.1:8080/healthz

Used as the ECS container health check, so the image needs no extra binary.
With ``MESH_TLS_*`` set (the container's own TLS settings) it calls over TLS
with the container's certificate. The name checked in the server's certificate
is ``--server-name``, else the host of ``--addr``, or for an IP address or
``localhost`` the container's own name: the health check calls its own
server on 127.0.0.1.
Exit codes: 0 serving, 1 not serving or unreachable, 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.config import ConfigError, load_tls
from mesh.tls import TARGET_NAME_OVERRIDE, TlsSettings, channel_credentials


def _channel(addr: str, tls: TlsSettings | None, server_name: str | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(addr)
    options = [(TARGET_NAME_OVERRIDE, server_name)] if server_name else []
    return grpc.secure_channel(addr, channel_credentials(tls), options=options)


def _is_local(addr: str) -> bool:
    host = addr.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_grpc(
    addr: str,
    service: str,
    timeout: float,
    tls: TlsSettings | None = None,
    server_name: str | None = None,
) -> tuple[bool, str]:
    """(serving?, detail) from ``grpc.health.v1`` at ``addr``; TLS when ``tls`` is given.

    ``server_name`` is the name expected in the server's certificate (default:
    the host of ``addr``).
    """
    with _channel(addr, tls, server_name) as channel:
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
    parser.add_argument(
        "--server-name", help="with TLS: the name expected in the server's certificate"
    )
    opts = parser.parse_args(argv)
    if not 0 < opts.timeout <= 60:
        parser.error("--timeout must be in (0, 60]")
    try:
        if opts.http:
            ok, detail = check_http(opts.http, opts.timeout)
        else:
            tls = load_tls()
            name = opts.server_name
            if tls is not None and name is None and _is_local(opts.addr):
                name = tls.identity
            ok, detail = check_grpc(opts.addr, opts.service, opts.timeout, tls, name)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        parser.error(str(exc))
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
