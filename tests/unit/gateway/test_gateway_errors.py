from __future__ import annotations

import grpc
import pytest

from gateway.errors import HTTP_STATUS, GatewayError, http_status_of


@pytest.mark.parametrize("code", list(grpc.StatusCode))
def test_every_grpc_status_code_is_mapped(code: grpc.StatusCode) -> None:
    assert code in HTTP_STATUS, f"{code.name} has no HTTP status"


def test_the_standard_table() -> None:
    expected = {
        "OK": 200,
        "INVALID_ARGUMENT": 400,
        "FAILED_PRECONDITION": 400,
        "OUT_OF_RANGE": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "ALREADY_EXISTS": 409,
        "ABORTED": 409,
        "RESOURCE_EXHAUSTED": 429,
        "CANCELLED": 499,
        "UNIMPLEMENTED": 501,
        "UNAVAILABLE": 503,
        "DEADLINE_EXCEEDED": 504,
        "UNKNOWN": 500,
        "INTERNAL": 500,
        "DATA_LOSS": 500,
    }
    assert {c.name: s for c, s in HTTP_STATUS.items()} == expected


def test_unknown_numeric_code_is_500() -> None:
    assert http_status_of(99) == 500


def test_gateway_error_carries_bad_request_violations() -> None:
    status = GatewayError("bad", violations=[("a.b", "not an integer")]).status()
    assert status["code"] == 3
    (detail,) = status["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"] == [{"field": "a.b", "description": "not an integer"}]


def test_only_a_503_tells_the_client_when_to_retry() -> None:
    from gateway.errors import retry_after

    assert retry_after(503) == [(b"retry-after", b"1")]
    assert [retry_after(s) for s in (200, 400, 429, 500, 504)] == [[]] * 5
