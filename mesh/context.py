"""Per-call context that must follow a request across service hops.

The server interceptor sets these for the duration of a call; outbound calls
read them, so the request id travels on and the inbound deadline caps the
outbound one without every servicer passing them by hand.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

__all__ = ["current_deadline", "current_request_id", "deadline_var", "remaining", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("mesh_request_id", default=None)
# Absolute time.monotonic() by which the inbound caller gives up, if it set a deadline.
deadline_var: ContextVar[float | None] = ContextVar("mesh_deadline", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_deadline() -> float | None:
    return deadline_var.get()


def remaining(default: float) -> float:
    """Seconds an outbound call may take: the default, capped by the inbound deadline."""
    deadline = deadline_var.get()
    if deadline is None:
        return default
    return max(0.0, min(default, deadline - time.monotonic()))
