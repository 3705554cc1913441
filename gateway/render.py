"""proto3 JSON output compiled per message type, at start-up.

:func:`printer` gives what ``json_format.MessageToDict(message,
always_print_fields_with_no_presence=True)`` gives, as a closure over a field
plan made once per type: no descriptor walk per message. Well-known types
(Timestamp, Duration, Struct, Any, wrappers, ...) are left to json_format,
field by field; so is a closed enum holding an unknown number (json_format
raises for it). Keys come in field declaration order, not json_format's
set-fields-first order; JSON objects are unordered.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal.type_checkers import ToShortestFloat
from google.protobuf.message import Message

from gateway.fields import _is_map, _is_repeated

__all__ = ["printer"]

Printer = Callable[[Message], Any]
_Convert = Callable[[Any], Any] | None  # None: the value is already its JSON form

_SCALAR, _PRESENCE, _REPEATED, _MAP = range(4)
_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_CACHE: dict[str, Printer] = {}


class _Fallback(Exception):
    """The fast path cannot render this message exactly: json_format does."""


def _json_format(message: Message) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _is_special(descriptor: Any) -> bool:
    name: str = descriptor.full_name
    return name.startswith("google.protobuf.") and name != "google.protobuf.Empty"


def printer(descriptor: Any) -> Printer:
    """The JSON-object printer for messages of ``descriptor``'s type (a message Descriptor)."""
    cached = _CACHE.get(descriptor.full_name)
    if cached is not None:
        return cached
    if _is_special(descriptor):
        _CACHE[descriptor.full_name] = _json_format
        return _json_format
    plan: list[tuple[str, str, int, _Convert]] = []

    def render(message: Message) -> Any:
        out: dict[str, Any] = {}
        for name, key, kind, convert in plan:
            if kind == _SCALAR:
                value = getattr(message, name)
                out[key] = value if convert is None else convert(value)
            elif kind == _PRESENCE:
                if message.HasField(name):
                    value = getattr(message, name)
                    out[key] = value if convert is None else convert(value)
            elif kind == _REPEATED:
                values = getattr(message, name)
                out[key] = list(values) if convert is None else [convert(v) for v in values]
            else:
                out[key] = {
                    _map_key(k): v if convert is None else convert(v)
                    for k, v in getattr(message, name).items()
                }
        return out

    def safe(message: Message) -> Any:
        try:
            return render(message)
        except _Fallback:
            return _json_format(message)

    # Registered before the fields are planned, so recursive types find themselves.
    _CACHE[descriptor.full_name] = safe
    for field in descriptor.fields:
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            plan.append((field.name, field.json_name, _MAP, _converter(value_field)))
        elif _is_repeated(field):
            plan.append((field.name, field.json_name, _REPEATED, _converter(field)))
        elif field.has_presence:
            plan.append((field.name, field.json_name, _PRESENCE, _converter(field)))
        else:
            plan.append((field.name, field.json_name, _SCALAR, _converter(field)))
    return safe


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _converter(field: Any) -> _Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return printer(field.message_type)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return _enum_converter(field)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    return None  # string, bool, 32-bit integers


def _enum_converter(field: Any) -> _Convert:
    enum = field.enum_type
    if enum.full_name == "google.protobuf.NullValue":
        return lambda _: None
    names = {v.number: v.name for v in enum.values}
    if any(v.GetOptions().ListFields() for v in enum.values):
        # Options may rename a value in JSON: let json_format read them.
        names = {n: _enum_name_via_json_format(field, n) for n in names}
    closed = bool(getattr(enum, "is_closed", False))

    def convert(number: int) -> Any:
        name = names.get(number)
        if name is not None:
            return name
        if closed:
            raise _Fallback
        return number

    return convert


def _enum_name_via_json_format(field: Any, number: int) -> Any:
    from google.protobuf import message_factory

    message = message_factory.GetMessageClass(field.containing_type)()
    if _is_repeated(field):
        getattr(message, field.name).append(number)
        return _json_format(message)[field.json_name][0]
    setattr(message, field.name, number)
    return _json_format(message)[field.json_name]


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _double(value: float) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return value


def _float(value: float) -> Any:
    if math.isinf(value) or math.isnan(value):
        return _double(value)
    return ToShortestFloat(value)
