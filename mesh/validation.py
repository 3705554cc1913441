"""Request validation that reports every bad field at once as BadRequest violations."""

from __future__ import annotations

import re
from typing import Any, Protocol

from mesh.errors import FieldViolation, InvalidArgument

__all__ = ["ID_PATTERN", "SKU_PATTERN", "SkuLine", "Violations", "parse_name", "validate_lines"]

# Ids chosen by clients: bounded, printable, and safe inside a resource name.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_MAX_ECHO = 64


def shorten(value: str) -> str:
    """A bounded, printable echo of client input for error messages."""
    clipped = value[:_MAX_ECHO] + ("..." if len(value) > _MAX_ECHO else "")
    return clipped.encode("unicode_escape").decode("ascii")


class Violations:
    """Collects field violations; :meth:`check` raises InvalidArgument when any were found."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def require(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.add(field, description)
        return ok

    def matches(self, pattern: re.Pattern[str], value: str, field: str, what: str) -> bool:
        if not value:
            self.add(field, f"{what} is required")
            return False
        return self.require(
            bool(pattern.match(value)), field, f"{what} must match {pattern.pattern}"
        )

    def check(self, message: str = "invalid request") -> None:
        if self.items:
            fields = ", ".join(v.field for v in self.items)
            raise InvalidArgument(
                f"{message}: {fields}", reason="INVALID_FIELDS", violations=self.items
            )


def parse_name(name: str, collection: str, pattern: re.Pattern[str], field: str = "name") -> str:
    """The id in ``<collection>/<id>``; InvalidArgument naming ``field`` otherwise."""
    prefix = collection + "/"
    if not name:
        raise InvalidArgument(
            f"{field} is required", violations=[FieldViolation(field, "required")]
        )
    if not name.startswith(prefix) or not pattern.match(name[len(prefix) :]):
        raise InvalidArgument(
            f"{field} {shorten(name)!r} is not a valid {collection} name",
            violations=[
                FieldViolation(field, f"must look like {prefix}<id>, id matching {pattern.pattern}")
            ],
        )
    return name[len(prefix) :]


class SkuLine(Protocol):
    """What order lines and reservation lines have in common."""

    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def validate_lines(
    lines: Any,
    v: Violations,
    *,
    max_lines: int,
    max_quantity: int,
    field: str = "lines",
) -> list[tuple[str, int]]:
    """Checks 1..``max_lines`` lines of distinct skus with quantities in 1..``max_quantity``.

    Returns the (sku, quantity) pairs. Each service passes its own limits: the
    rule is the service's, only the checking is shared.
    """
    if not v.require(0 < len(lines) <= max_lines, field, f"must have 1-{max_lines} lines"):
        return []
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    line: SkuLine
    for i, line in enumerate(lines):
        if v.matches(SKU_PATTERN, line.sku, f"{field}[{i}].sku", "sku"):
            v.require(line.sku not in seen, f"{field}[{i}].sku", "appears more than once")
            seen.add(line.sku)
        v.require(
            0 < line.quantity <= max_quantity,
            f"{field}[{i}].quantity",
            f"must be in 1..{max_quantity}",
        )
        out.append((line.sku, line.quantity))
    return out
