"""The errors a function raises; their class names are the workflow's error names.

Lambda reports an unhandled exception's class name as the error type, and Step
Functions matches ``Retry``/``Catch`` on it, so these names are part of the
contract with ``workflows/order_fulfilment.asl.json``::

    FunctionError
    ├── ServiceUnavailable   retried with backoff (UNAVAILABLE, DEADLINE_EXCEEDED, no endpoint)
    ├── OrderClosed          the order can no longer be paid (cancelled or expired meanwhile)
    ├── StepRejected         the service refused the step for good; compensated
    └── BadEvent             the event is not what the definition passes; compensated
"""

from __future__ import annotations

from mesh.errors import MeshError

__all__ = [
    "BadEvent",
    "FunctionError",
    "OrderClosed",
    "ServiceUnavailable",
    "StepRejected",
    "from_mesh_error",
]


class FunctionError(Exception):
    """A step did not happen; the message says why (it shows in the execution history)."""


class ServiceUnavailable(FunctionError):
    pass


class OrderClosed(FunctionError):
    pass


class StepRejected(FunctionError):
    pass


class BadEvent(FunctionError):
    pass


_RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
# The ErrorInfo reasons orders gives an order that no longer takes payment (its
# lifecycle's order_closed; tests/unit/test_functions.py holds the two together).
CLOSED_REASONS = frozenset({"ORDER_CLOSED", "ORDER_EXPIRED", "ORDER_NOT_AWAITING_PAYMENT"})


def from_mesh_error(exc: MeshError) -> FunctionError:
    """A failed call as the workflow sees it: retry it, or give up and compensate."""
    code = exc.code.name
    text = f"{code} {exc.reason or ''}: {exc.message}".strip()
    if code in _RETRYABLE:
        return ServiceUnavailable(text)
    if exc.reason in CLOSED_REASONS:
        return OrderClosed(text)
    return StepRejected(text)
