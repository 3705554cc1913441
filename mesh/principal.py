"""Who a call is for, as it travels through the mesh.

The gateway verifies a caller's token and passes the result on as metadata;
services read it here and never parse tokens. A call that carries no principal
comes from inside the mesh (a service, or an operator on the trusted network
with grpcurl): :data:`INTERNAL`. A call that came through the gateway always
carries one, :data:`ANONYMOUS` when no token was sent, so a service can tell a
user from a peer.

    metadata = to_metadata(Principal.user("alice", {"orders.read"}))
    from_metadata(metadata)  # Principal(subject='alice', scopes=..., external=True)

Metadata keys starting with ``x-mesh-`` are the mesh's own: the gateway drops
any that arrive from outside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = [
    "ANONYMOUS",
    "INTERNAL",
    "PRINCIPAL_KEY",
    "RESERVED_PREFIX",
    "SCOPES_KEY",
    "SCOPE_TOKEN",
    "Principal",
    "PrincipalError",
    "from_metadata",
    "to_metadata",
]

RESERVED_PREFIX = "x-mesh-"
PRINCIPAL_KEY = "x-mesh-principal"
SCOPES_KEY = "x-mesh-scopes"
_USER = "user:"
_ANONYMOUS = "anonymous"
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")  # RFC 6749 scope-token (fullmatch)
MAX_SUBJECT = 255
MAX_SCOPES = 64


class PrincipalError(ValueError):
    """Principal metadata that no gateway of ours would have written."""


@dataclass(frozen=True, slots=True)
class Principal:
    """``subject`` is empty for anonymous and internal callers."""

    subject: str
    scopes: frozenset[str]
    external: bool

    @classmethod
    def user(cls, subject: str, scopes: Iterable[str] = ()) -> Principal:
        if not subject or len(subject) > MAX_SUBJECT:
            raise PrincipalError(f"a subject has 1 to {MAX_SUBJECT} characters")
        return cls(subject, frozenset(scopes), True)

    @property
    def anonymous(self) -> bool:
        return self.external and not self.subject

    @property
    def internal(self) -> bool:
        return not self.external

    def has_all(self, scopes: frozenset[str]) -> bool:
        return scopes <= self.scopes


INTERNAL = Principal("", frozenset(), external=False)
ANONYMOUS = Principal("", frozenset(), external=True)


def to_metadata(principal: Principal) -> tuple[tuple[str, str], ...]:
    """Metadata for an external principal (nothing for :data:`INTERNAL`)."""
    if principal.internal:
        return ()
    if principal.anonymous:
        return ((PRINCIPAL_KEY, _ANONYMOUS),)
    out = [(PRINCIPAL_KEY, _USER + quote(principal.subject, safe=""))]
    if principal.scopes:
        out.append((SCOPES_KEY, " ".join(sorted(principal.scopes))))
    return tuple(out)


def from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
    """The principal a call carries; :data:`INTERNAL` when it carries none."""
    identity: str | None = None
    scopes = ""
    for key, value in metadata or ():
        if key == PRINCIPAL_KEY:
            if identity is not None or not isinstance(value, str):
                raise PrincipalError("one text x-mesh-principal at most")
            identity = value
        elif key == SCOPES_KEY:
            if not isinstance(value, str):
                raise PrincipalError("x-mesh-scopes must be text")
            scopes = value
    if identity is None:
        if scopes:
            raise PrincipalError("x-mesh-scopes without x-mesh-principal")
        return INTERNAL
    return parse(identity, scopes)


def parse(identity: str, scopes: str) -> Principal:
    if identity == _ANONYMOUS:
        if scopes:
            raise PrincipalError("an anonymous caller has no scopes")
        return ANONYMOUS
    if not identity.startswith(_USER):
        raise PrincipalError("x-mesh-principal is 'anonymous' or 'user:<subject>'")
    names = scopes.split()
    if len(names) > MAX_SCOPES or not all(SCOPE_TOKEN.fullmatch(n) for n in names):
        raise PrincipalError("x-mesh-scopes is a space-separated list of scope tokens")
    try:
        subject = unquote(identity[len(_USER) :], errors="strict")
    except UnicodeDecodeError:
        raise PrincipalError("x-mesh-principal's subject is not percent-encoded UTF-8") from None
    return Principal.user(subject, names)
