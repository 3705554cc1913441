"""Setting request fields from strings: path variables and query parameters.

A :class:`FieldSetter` is resolved once per field path (at start-up for path
variables, on first use for a query key) and then only converts and assigns.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = [
    "FieldError",
    "FieldSetter",
    "behaviours",
    "check_field_mask",
    "check_field_masks",
    "has_field_mask",
    "resolve_field",
]

# Well-known types whose JSON form is a single string, so a query value maps to them.
STRING_WKTS = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)
WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


class FieldError(ValueError):
    """A field path that does not exist or a value that does not fit the field."""


_MASK_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*\Z")
_FIELD_MASK = "google.protobuf.FieldMask"


def check_field_mask(mask: Message) -> None:
    """A FieldMask's paths must be field paths its JSON form can carry.

    json_format turns any camelCase string into a path (an upper-case letter
    with no lower-case form, such as U+1D54B, becomes ``"_"`` plus itself) and
    only fails when printing it back, so a bad mask would pass the gateway and
    make the answer unprintable.
    """
    paths: list[str] = list(mask.paths)  # type: ignore[attr-defined]
    for path in paths:
        if not _MASK_PATH.match(path):
            raise FieldError(f"not a field path: {path!r}")
    try:
        mask.ToJsonString()  # type: ignore[attr-defined]
    except ValueError as exc:
        raise FieldError(f"not a valid FieldMask: {exc}") from None


_HOLDS_MASK: dict[str, bool] = {}


def has_field_mask(descriptor: Any) -> bool:
    """Whether messages of this type can hold a FieldMask, at any depth."""
    known = _HOLDS_MASK.get(descriptor.full_name)
    if known is None:
        known = _HOLDS_MASK[descriptor.full_name] = _reaches_mask(descriptor, set())
    return known


def _reaches_mask(descriptor: Any, seen: set[str]) -> bool:
    if descriptor.full_name == _FIELD_MASK:
        return True
    seen.add(descriptor.full_name)
    return any(
        field.message_type is not None
        and field.message_type.full_name not in seen
        and _reaches_mask(field.message_type, seen)
        for field in descriptor.fields
    )


def check_field_masks(message: Message) -> None:
    """:func:`check_field_mask` on every FieldMask set in ``message``, at any depth."""
    if message.DESCRIPTOR.full_name == _FIELD_MASK:
        check_field_mask(message)
        return
    for field, value in message.ListFields():
        if field.message_type is None or not has_field_mask(field.message_type):
            continue
        if _is_map(field):
            values = list(value.values())
        elif _is_repeated(field):
            values = list(value)
        else:
            values = [value]
        for item in values:
            if isinstance(item, Message):
                check_field_masks(item)


def _is_repeated(field: Any) -> bool:
    # `is_repeated` is new in protobuf 6; `label` is deprecated there.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def behaviours(field: Any) -> frozenset[int]:
    """The field's ``google.api.field_behavior`` values (field_behavior_pb2 numbers)."""
    return frozenset(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def _is_map(field: Any) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


def find_field(message: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by proto name or by lowerCamelCase JSON name."""
    field = message.fields_by_name.get(name)
    if field is None:
        field = next((f for f in message.fields if f.json_name == name), None)
    return field


@dataclass(frozen=True, slots=True)
class FieldSetter:
    """Assigns a string value to one (possibly nested) field of a request."""

    path: tuple[str, ...]  # proto field names
    repeated: bool
    _convert: Callable[[str], Any]
    _wkt: bool

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def set(self, request: Message, raw: str) -> None:
        target: Any = request
        for part in self.path[:-1]:
            target = getattr(target, part)
        leaf = self.path[-1]
        if self._wkt:
            sub = getattr(target, leaf).add() if self.repeated else getattr(target, leaf)
            self._convert_wkt(sub, raw)
            return
        value = self._convert(raw)
        if self.repeated:
            getattr(target, leaf).append(value)
        else:
            setattr(target, leaf, value)

    def _convert_wkt(self, sub: Message, raw: str) -> None:
        if sub.DESCRIPTOR.full_name in WRAPPERS:
            sub.value = self._convert(raw)  # type: ignore[attr-defined]
            return
        try:
            json_format.Parse(json.dumps(raw), sub)
        except json_format.ParseError as exc:
            raise FieldError(f"not a valid {sub.DESCRIPTOR.name}: {raw!r}") from exc
        if sub.DESCRIPTOR.full_name == _FIELD_MASK:
            check_field_mask(sub)


def resolve_field(message: Descriptor, dotted: str) -> FieldSetter:
    """Resolve ``a.b.c`` (proto or JSON names) to a setter for a scalar, enum or WKT leaf."""
    parts = dotted.split(".")
    names: list[str] = []
    current = message
    for i, part in enumerate(parts):
        field = find_field(current, part)
        if field is None:
            raise FieldError(f"{current.full_name} has no field {part!r}")
        names.append(field.name)
        last = i == len(parts) - 1
        msg = field.message_type
        if _is_map(field):
            raise FieldError(f"map field {'.'.join(names)!r} cannot be set from a string")
        if msg is not None and (msg.full_name in STRING_WKTS or msg.full_name in WRAPPERS):
            if not last:
                raise FieldError(f"{'.'.join(names)!r} is a {msg.name}, it has no sub-fields")
            inner = msg.fields_by_name["value"] if msg.full_name in WRAPPERS else None
            convert = _converter(inner) if inner is not None else str
            return FieldSetter(tuple(names), _is_repeated(field), convert, True)
        if msg is not None:
            if last:
                raise FieldError(f"message field {'.'.join(names)!r} cannot be set from a string")
            if _is_repeated(field):
                raise FieldError(f"repeated message {'.'.join(names)!r} has no sub-fields to set")
            current = msg
            continue
        if not last:
            raise FieldError(f"{'.'.join(names)!r} is not a message, it has no sub-fields")
        return FieldSetter(tuple(names), _is_repeated(field), _converter(field), False)
    raise FieldError(f"empty field path {dotted!r}")  # pragma: no cover - split never yields []


def _converter(field: FieldDescriptor) -> Callable[[str], Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return str
    if kind == FieldDescriptor.TYPE_BOOL:
        return _to_bool
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return lambda raw: _to_int(raw, low, high)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _to_float
    if kind == FieldDescriptor.TYPE_BYTES:
        return _to_bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        by_name = {v.name: v.number for v in enum.values}
        numbers = set(by_name.values())

        def to_enum(raw: str) -> int:
            if raw in by_name:
                return by_name[raw]
            try:
                number = int(raw)
            except ValueError:
                number = None
            if number in numbers:
                return number  # type: ignore[return-value]
            raise FieldError(f"not a value of {enum.full_name}: {raw!r}")

        return to_enum
    raise FieldError(f"field {field.full_name} of type {kind} cannot be set from a string")


def _to_bool(raw: str) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise FieldError(f"not a boolean (true or false): {raw!r}")


def _to_int(raw: str, low: int, high: int) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise FieldError(f"not an integer: {raw!r}") from None
    if not low <= value <= high:
        raise FieldError(f"integer out of range: {raw!r}")
    return value


def _to_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise FieldError(f"not a number: {raw!r}") from None
    if math.isnan(value) and raw != "NaN":
        raise FieldError(f"not a number: {raw!r}")
    return value


def _to_bytes(raw: str) -> bytes:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(f"not base64: {raw!r}") from None
