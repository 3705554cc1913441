"""Per-call context that must follow a request across service hops.

The server sets one context variable per call; outbound calls read it, so the
request id travels on and the inbound deadline caps the outbound one without
every servicer passing them by hand. The deadline is read only when an
outbound call needs it, so calls that make none pay nothing for it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

from mesh.principal import ANONYMOUS, INTERNAL, Principal, PrincipalError

__all__ = [
    "CallInfo",
    "call_var",
    "current_principal",
    "current_request_id",
    "remaining",
    "unrecorded_traceparent",
]


class CallInfo(Protocol):
    request_id: str
    # The caller's traceparent when the call is not recorded (sent on as it came).
    forward: str | None
    # A PrincipalError never reaches a servicer: the call is refused before.
    principal: Principal | PrincipalError

    def time_remaining(self) -> float | None: ...


call_var: ContextVar[CallInfo | None] = ContextVar("mesh_call", default=None)


def current_request_id() -> str | None:
    call = call_var.get()
    return call.request_id if call is not None else None


def unrecorded_traceparent() -> str | None:
    """The traceparent outbound calls send as is, when the current call is not recorded."""
    call = call_var.get()
    return call.forward if call is not None else None


def current_principal() -> Principal:
    """Who the current call is for; :data:`~mesh.principal.INTERNAL` outside a call."""
    call = call_var.get()
    if call is None:
        return INTERNAL
    if isinstance(call.principal, PrincipalError):
        return ANONYMOUS  # never reached (refused first); and never more than anonymous
    return call.principal


def remaining(default: float) -> float:
    """Seconds an outbound call may take: the default, capped by the inbound deadline."""
    call = call_var.get()
    if call is None:
        return default
    left = call.time_remaining()
    if left is None:
        return default
    return max(0.0, min(default, left))
