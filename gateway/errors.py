"""gRPC status → HTTP, and every error body the gateway writes.

Every error leaves the gateway as ``google.rpc.Status`` JSON,
``{"code": ..., "message": ..., "details": [...]}``, whether a backend sent
it or the gateway found it itself (:class:`GatewayError`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2  # error_details registers the detail types

__all__ = [
    "HTTP_STATUS",
    "GatewayError",
    "http_status_of",
    "retry_after",
    "status_body",
    "status_dict",
    "status_from_rpc_error",
]

# The standard table (grpc-gateway, Envoy and Google's API design guide agree).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_BY_NUMBER: dict[int, int] = {code.value[0]: http for code, http in HTTP_STATUS.items()}
_DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "gateway.shop"


def http_status_of(code: int) -> int:
    """HTTP status for a numeric gRPC code; codes outside the enum are 500."""
    return _BY_NUMBER.get(code, 500)


class GatewayError(Exception):
    """A request the gateway refuses before (or instead of) calling a backend.

    ``violations`` become a ``google.rpc.BadRequest`` detail, one
    ``FieldViolation`` per ``(field, description)``; ``reason`` an
    ``ErrorInfo`` detail in the gateway's domain.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 400,
        code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
        violations: Sequence[tuple[str, str]] = (),
        headers: Sequence[tuple[bytes, bytes]] = (),
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.violations = tuple(violations)
        self.headers = tuple(headers)
        self.reason = reason

    def status(self) -> dict[str, Any]:
        details: list[any_pb2.Any] = []
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in self.violations
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad)
            details.append(packed)
        if self.reason:
            packed = any_pb2.Any()
            packed.Pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN))
            details.append(packed)
        return status_dict(self.code.value[0], self.message, details)


# How long a client should wait before trying a 503 again: the mesh's own
# retries already spent about a second; a database restart or a replica's
# replacement takes a few.
RETRY_AFTER_SECONDS = 1


def retry_after(http_status: int) -> list[tuple[bytes, bytes]]:
    """``Retry-After`` for a 503 (the backend is down for now, not broken); none otherwise."""
    return [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())] if http_status == 503 else []


def status_dict(code: int, message: str, details: Iterable[any_pb2.Any] = ()) -> dict[str, Any]:
    return {"code": code, "message": message, "details": [_detail_json(d) for d in details]}


def status_body(status: dict[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode()


def status_from_rpc_error(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """The backend's status, with the details it put in ``grpc-status-details-bin``."""
    code = error.code().value[0]
    message = error.details() or ""
    trailers: Any = error.trailing_metadata() or ()
    for key, value in trailers:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                rich = status_pb2.Status.FromString(value)
            except Exception:
                break
            # The code and message of the call win: they are what gRPC delivered.
            return status_dict(code, message or rich.message, rich.details)
    return status_dict(code, message)


def _detail_json(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        return json_format.MessageToDict(detail)
    except (json_format.Error, TypeError, KeyError):
        # A detail type we do not know: still hand it on, opaque but lossless.
        return {
            "@type": detail.type_url,
            "value": base64.b64encode(detail.value).decode("ascii"),
        }
