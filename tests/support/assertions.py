"""Assertions on gRPC errors and their google.rpc.Status details."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


async def rpc_error(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
    return error


def details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo | None, list[str]]:
    """The ErrorInfo and the BadRequest violation fields carried by a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status"
    info, fields = None, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return info, fields


async def invalid(call: Awaitable[Any], *fields: str) -> list[str]:
    """Asserts INVALID_ARGUMENT whose field violations include ``fields``."""
    error = await rpc_error(call, grpc.StatusCode.INVALID_ARGUMENT)
    _, violated = details(error)
    for name in fields:
        assert name in violated, f"{name} not among violations {violated}"
    return violated


async def reason(call: Awaitable[Any], code: grpc.StatusCode) -> str:
    """Asserts the code and returns the ErrorInfo reason."""
    error = await rpc_error(call, code)
    info, _ = details(error)
    assert info is not None, "the error carries no ErrorInfo"
    return str(info.reason)
