"""The one error model of the mesh.

Domain code raises a subclass of :class:`MeshError`; the server interceptor turns
it into a gRPC status carrying a ``google.rpc.Status`` with details, here and
nowhere else::

    MeshError                     code, reason, message, metadata
    ├── InvalidArgument           + BadRequest field violations
    ├── NotFound
    ├── AlreadyExists
    ├── FailedPrecondition
    ├── ...                       one class per grpc.StatusCode except OK
    └── Internal

A few failures that are not ours are transient by nature: a lost database
connection, a database that refuses connections while it restarts.
:func:`unavailable_cause` recognises them so that they leave as UNAVAILABLE
(which callers retry) instead of INTERNAL (which they must not).

Callers of other services get the reverse: :func:`from_rpc_error` rebuilds the
MeshError (with its details) from a failed call, so it can travel on unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = [
    "ERROR_TYPES",
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "MeshError",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_for_code",
    "from_rpc_error",
    "to_status",
    "unavailable_cause",
]


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class MeshError(Exception):
    """A failure with a gRPC code, a machine-readable reason and metadata."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
        domain: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.code.name
        self.metadata = dict(metadata or {})
        self.violations = tuple(violations)
        self.domain = domain


class Cancelled(MeshError):
    code = grpc.StatusCode.CANCELLED


class Unknown(MeshError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(MeshError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(MeshError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(MeshError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MeshError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(MeshError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(MeshError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(MeshError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(MeshError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(MeshError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(MeshError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(MeshError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(MeshError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(MeshError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(MeshError):
    code = grpc.StatusCode.UNAUTHENTICATED


ERROR_TYPES: dict[grpc.StatusCode, type[MeshError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_for_code(code: grpc.StatusCode) -> type[MeshError]:
    """The MeshError class for a non-OK code; KeyError for OK (success is not an error)."""
    return ERROR_TYPES[code]


def to_status(error: MeshError, domain: str) -> grpc.Status:
    """A grpc.Status whose trailers carry google.rpc.Status with ErrorInfo and BadRequest."""
    details: list[any_pb2.Any] = []
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=error.domain or domain, metadata=error.metadata
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    status = status_pb2.Status(
        code=getattr(code_pb2, error.code.name), message=error.message, details=details
    )
    return rpc_status.to_status(status)


def from_rpc_error(exc: grpc.RpcError) -> MeshError:
    """Rebuild a MeshError from a failed call, keeping reason, metadata and violations."""
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    message: str = exc.details() or code.name  # type: ignore[attr-defined]
    cls = ERROR_TYPES.get(code, Unknown)
    reason, domain, metadata, violations = "", "", {}, []
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return cls(message, reason=reason, metadata=metadata, violations=violations, domain=domain)


# SQLSTATE classes that say "the database is not there right now": 08 connection
# exception; 57P01-57P03 admin/crash shutdown and "cannot connect now" (starting up).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def unavailable_cause(exc: BaseException) -> Unavailable | None:
    """An Unavailable if ``exc`` (or what it wraps) is a lost or refused connection.

    Read from the exception chain without importing any driver: an OSError
    (refused, reset, timed out), SQLAlchemy's ``connection_invalidated``, or a
    PostgreSQL SQLSTATE of the classes above (``sqlstate``, asyncpg and
    SQLAlchemy's adapter; ``pgcode``, psycopg). Anything else is None: a
    constraint violation or a bug stays what it is.
    """
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 10:
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if (
            isinstance(seen, OSError)
            or getattr(seen, "connection_invalidated", False) is True
            or (isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES))
        ):
            return Unavailable(
                "a backing store is unreachable right now; retry shortly",
                reason="STORE_UNAVAILABLE",
            )
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return None
