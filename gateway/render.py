"""proto3 JSON output compiled per message type, at start-up.

:func:`printer` gives what ``json_format.MessageToDict(message,
always_print_fields_with_no_presence=True)`` gives, with a function generated
once per type (one statement per field): no descriptor walk per message, and
:func:`dumps` turns its output into bytes. Well-known types
(Timestamp, Duration, Struct, Any, wrappers, ...) are left to json_format,
field by field; so is a closed enum holding an unknown number (json_format
raises for it). Keys come in field declaration order, not json_format's
set-fields-first order; JSON objects are unordered. INPUT_ONLY fields
(``google.api.field_behavior``) are left out: printing every field would
otherwise show them with their default values, and they are never output.
"""

from __future__ import annotations

import base64
import keyword
import math
from collections.abc import Callable
from typing import Any

import orjson
from google.api import field_behavior_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal.type_checkers import ToShortestFloat
from google.protobuf.message import Message

from gateway.fields import _is_map, _is_repeated, behaviours

__all__ = ["dumps", "printer"]

Printer = Callable[[Message], Any]
_Convert = Callable[[Any], Any] | None  # None: the value is already its JSON form

_INT64 = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
_CACHE: dict[str, Printer] = {}


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of a printer's output (what ``json.dumps(value,
    separators=(",", ":"), ensure_ascii=False).encode()`` gives, up to how an
    exponent is spelled: ``1e-7`` for ``1e-07``).
    """
    return orjson.dumps(value)


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
    render: Printer | None = None
    hidden = _input_only(descriptor)

    def safe(message: Message) -> Any:
        try:
            return render(message)  # type: ignore[misc]  # set below, before any call
        except _Fallback:
            out = _json_format(message)
            for key in hidden:
                out.pop(key, None)
            return out

    # Registered before the fields are planned, so recursive types find themselves.
    _CACHE[descriptor.full_name] = safe
    render = _compile(descriptor)
    return safe


def _compile(descriptor: Any) -> Printer:
    """A function with one statement per field, made from the descriptor once.

    A loop over a field plan spent most of its time on the loop and its branches;
    straight-line code reads each field once with a plain attribute access.
    Field names are protobuf identifiers and keys are embedded with repr(), so
    the source holds nothing that did not come from the descriptor pool.
    """
    names: dict[str, Any] = {}
    lines = ["def render(m):", "    o = {}"]
    hidden = _input_only(descriptor)
    for index, field in enumerate(descriptor.fields):
        if field.json_name in hidden:
            continue
        attr = _attribute(field.name)
        key = repr(field.json_name)
        if _is_map(field):
            entry = field.message_type
            value = _apply(names, f"c{index}", _converter(entry.fields_by_name["value"]), "v")
            mapped = _map_key_expression(entry.fields_by_name["key"])
            lines.append(f"    o[{key}] = {{{mapped}: {value} for k, v in {attr}.items()}}")
        elif _is_repeated(field):
            convert = _converter(field)
            if convert is None:
                lines.append(f"    o[{key}] = list({attr})")
            else:
                names[f"c{index}"] = convert
                lines.append(f"    o[{key}] = [c{index}(v) for v in {attr}]")
        elif field.has_presence:
            value = _apply(names, f"c{index}", _converter(field), attr)
            lines.append(f"    if m.HasField({field.name!r}):")
            lines.append(f"        o[{key}] = {value}")
        else:
            lines.append(f"    o[{key}] = {_apply(names, f'c{index}', _converter(field), attr)}")
    lines.append("    return o")
    exec(compile("\n".join(lines), f"<render {descriptor.full_name}>", "exec"), names)  # noqa: S102
    compiled: Printer = names["render"]
    return compiled


def _input_only(descriptor: Any) -> frozenset[str]:
    """JSON names of the fields marked INPUT_ONLY."""
    return frozenset(
        f.json_name for f in descriptor.fields if field_behavior_pb2.INPUT_ONLY in behaviours(f)
    )


def _attribute(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"m.{name}"
    return f"getattr(m, {name!r})"


def _apply(names: dict[str, Any], slot: str, convert: _Convert, value: str) -> str:
    if convert is None:
        return value
    names[slot] = convert
    return f"{slot}({value})"


def _map_key_expression(key_field: Any) -> str:
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return "k"
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return "('true' if k else 'false')"
    return "str(k)"


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
