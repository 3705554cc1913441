"""HTTP headers ⇄ gRPC metadata, request ids and deadlines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from random import getrandbits
from typing import Any

from gateway.errors import GatewayError
from mesh.principal import RESERVED_PREFIX

__all__ = ["RequestHeaders", "metadata_headers", "parse_grpc_timeout", "read_headers"]

_PREFIX = b"grpc-metadata-"
# The mesh's own metadata (the verified principal) is never taken from outside.
_RESERVED = RESERVED_PREFIX.encode()
_KEY = re.compile(r"^[0-9a-z_.-]+\Z")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}\Z")
_TIMEOUT = re.compile(r"^([0-9]{1,8})([HMSmun])\Z")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# Always forwarded: W3C tracestate. traceparent is read apart (the gateway's own span
# becomes the backends' parent when tracing is on; else it travels on unchanged). The
# bearer token is not: the gateway verifies it and passes the principal on, so no
# service ever holds a caller's token.
_ALWAYS = frozenset({b"tracestate"})
_NEVER = frozenset({b"authorization", b"cookie", b"proxy-authorization"})


@dataclass(slots=True)
class RequestHeaders:
    metadata: list[tuple[str, str | bytes]]
    request_id: str
    timeout: float
    event_stream: bool
    content_length: int | None
    authorization: list[bytes]
    forwarded_for: list[bytes]
    traceparent: str | None = None


def parse_grpc_timeout(raw: str) -> float:
    """``Grpc-Timeout`` (gRPC over HTTP/2 syntax, e.g. ``500m``) in seconds."""
    found = _TIMEOUT.match(raw)
    if not found:
        raise GatewayError(
            "bad Grpc-Timeout header",
            violations=[("Grpc-Timeout", "1-8 digits and a unit H, M, S, m, u or n")],
        )
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def read_headers(
    headers: Iterable[tuple[bytes, bytes]],
    forward: frozenset[bytes],
    default_timeout: float,
    max_timeout: float,
) -> RequestHeaders:
    metadata: list[tuple[str, str | bytes]] = []
    request_id = ""
    timeout = default_timeout
    event_stream = False
    length: int | None = None
    authorization: list[bytes] = []
    forwarded_for: list[bytes] = []
    parent: str | None = None
    for name, value in headers:
        if name.startswith(_PREFIX):
            key = name[len(_PREFIX) :].decode("latin-1")
            if not key.startswith(RESERVED_PREFIX):
                metadata.append((key, _metadata_value(key, value, name)))
        elif name == b"authorization":
            authorization.append(value)
        elif name == b"x-forwarded-for":
            forwarded_for.append(value)
        elif name == b"traceparent":
            text = value.decode("latin-1")
            parent = text if text.isascii() and text.isprintable() else None
        elif (name in _ALWAYS or name in forward) and not (
            name.startswith(_RESERVED) or name in _NEVER
        ):
            key = name.decode("latin-1")
            metadata.append((key, _metadata_value(key, value, name)))
        elif name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                request_id = candidate
        elif name == b"grpc-timeout":
            timeout = parse_grpc_timeout(value.decode("latin-1"))
        elif name == b"accept":
            event_stream = b"text/event-stream" in value
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise GatewayError("bad Content-Length") from None
    if not request_id:
        # Not the caller's: ours, so every log line of this request can be joined. The
        # shape of uuid4().hex (32 hex digits) at a fraction of its cost; it needs to be
        # unique, not secret (random reseeds itself in forked workers).
        request_id = f"{getrandbits(128):032x}"
    metadata.append(("x-request-id", request_id))
    return RequestHeaders(
        metadata,
        request_id,
        min(timeout, max_timeout),
        event_stream,
        length,
        authorization,
        forwarded_for,
        parent,
    )


def _metadata_value(key: str, value: bytes, header: bytes) -> str | bytes:
    if not _KEY.match(key) or key.startswith("grpc-"):
        raise GatewayError(
            f"header {header.decode('latin-1')!r} is not a valid metadata key",
            violations=[(header.decode("latin-1"), "lower-case letters, digits, '-', '_', '.'")],
        )
    if key.endswith("-bin"):
        return value  # binary metadata passes through as bytes
    text = value.decode("latin-1")
    if not text.isascii() or not text.isprintable():
        raise GatewayError(
            f"header {header.decode('latin-1')!r} has a value gRPC metadata cannot carry",
            violations=[(header.decode("latin-1"), "printable ASCII only")],
        )
    return text


def metadata_headers(*metadata: Any) -> list[tuple[bytes, bytes]]:
    """Response metadata as ``Grpc-Metadata-*`` headers (text keys only)."""
    out: list[tuple[bytes, bytes]] = []
    for items in metadata:
        for key, value in items or ():
            if isinstance(value, bytes) or key.startswith("grpc-") or key.endswith("-bin"):
                continue
            out.append((b"grpc-metadata-" + key.encode("latin-1"), value.encode("latin-1")))
    return out
