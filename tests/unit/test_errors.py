from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from mesh.errors import (
    ERROR_TYPES,
    FieldViolation,
    InvalidArgument,
    MeshError,
    NotFound,
    error_for_code,
    to_status,
    unavailable_cause,
)


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c != grpc.StatusCode.OK])
def test_every_status_code_has_an_error_type(code: grpc.StatusCode) -> None:
    cls = error_for_code(code)
    assert issubclass(cls, MeshError) and cls.code == code
    status = to_status(cls("boom"), "test.shop")
    assert status.code == code


def test_ok_is_not_an_error() -> None:
    assert grpc.StatusCode.OK not in ERROR_TYPES
    with pytest.raises(KeyError):
        error_for_code(grpc.StatusCode.OK)


def test_status_carries_error_info_and_bad_request() -> None:
    error = InvalidArgument(
        "bad",
        reason="INVALID_FIELDS",
        metadata={"k": "v"},
        violations=[FieldViolation("a.b", "must be set")],
    )
    status = to_status(error, "catalog.shop")
    assert (status.code, status.details) == (grpc.StatusCode.INVALID_ARGUMENT, "bad")
    # Exactly one rich-status trailer (a second would make clients pick one at random).
    [raw] = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    decoded = status_pb2.Status.FromString(raw)
    assert decoded.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert decoded.message == "bad"
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert decoded.details[0].Unpack(info) and decoded.details[1].Unpack(bad)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "INVALID_FIELDS",
        "catalog.shop",
        {"k": "v"},
    )
    assert [(v.field, v.description) for v in bad.field_violations] == [("a.b", "must be set")]


def test_default_reason_is_the_code_name() -> None:
    assert NotFound("x").reason == "NOT_FOUND"


class _Driver(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _Invalidated(Exception):
    connection_invalidated = True


def _wrapped(inner: BaseException) -> Exception:
    try:
        raise inner
    except BaseException as exc:
        try:
            raise RuntimeError("wrapper") from exc
        except RuntimeError as outer:
            return outer


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        _wrapped(ConnectionResetError()),
        _Invalidated("server closed the connection"),
        _wrapped(_Driver("57P01")),  # terminating connection due to administrator command
        _Driver("57P03"),  # the database system is starting up
        _Driver("08006"),
    ],
)
def test_a_lost_connection_is_unavailable(exc: BaseException) -> None:
    found = unavailable_cause(exc)
    assert found is not None and found.code == grpc.StatusCode.UNAVAILABLE
    assert found.reason == "STORE_UNAVAILABLE"


@pytest.mark.parametrize(
    "exc", [ValueError("bug"), _Driver("23505"), _wrapped(KeyError("x")), _Driver("57014")]
)
def test_other_failures_stay_what_they_are(exc: BaseException) -> None:
    assert unavailable_cause(exc) is None
