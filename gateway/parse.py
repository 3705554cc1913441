"""proto3 JSON input compiled per message type, at start-up; json_format decides the rest.

:func:`parse_json` gives what ``json_format.Parse`` gives. The compiled fast
path (a field table per message type, one closure per field) handles the
values whose meaning is plain: a JSON string for a string or bytes field, an
integer in range (or a decimal-digit string) for an integer field, a finite
number for a float field, a known enum name or number, lists, objects for
maps and messages, ``null``. Anything else (an unknown key, a wrong type, an
out-of-range number, the odd spellings json_format also takes, such as
``"1e3"`` for an int) makes it give up: the message is cleared and
json_format parses the whole body, accepting or rejecting it with its own
message. So the fast path never rejects and never accepts what json_format
would not. Well-known types (Timestamp, Struct, Any, wrappers, ...) are
handed to json_format field by field, with the nesting depth it has left.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gateway.fields import (
    FieldError,
    _is_map,
    _is_repeated,
    check_field_masks,
    has_field_mask,
)

__all__ = ["MAX_DEPTH", "decode_json", "parse_json", "parser"]

# json_format.Parse's default max_recursion_depth: the top message is depth 1.
MAX_DEPTH = 100
# float32's largest finite value, as json_format checks it (type_checkers._FLOAT_MAX).
_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")
_EXACT_INT = 2**53
_DIGITS = re.compile(r"-?[0-9]+\Z")
# What json_format rejects in strings (JSON can spell lone surrogates as \ud800).
_LONE_SURROGATE = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
)
_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}

Parser = Callable[[Any, Message, int], None]
_Assign = Callable[[Message, Any, int], None]
_Convert = Callable[[Any], Any]
_CACHE: dict[str, Parser] = {}


class _Fallback(Exception):
    """The fast path cannot tell what json_format would do with this value: it decides."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key}")
            seen.add(key)
    return result


# Made once: json.loads builds a decoder per call when given a hook.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def decode_json(body: bytes) -> Any:
    """``body`` as JSON the way json_format.Parse reads it: UTF-8 only, no duplicate keys."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except Exception as exc:
        raise json_format.ParseError(f"Failed to load JSON: {exc}.") from exc


def parse_json(value: Any, message: Message, reset: Callable[[], Message] | None = None) -> None:
    """Merge the decoded JSON ``value`` into ``message`` as json_format.ParseDict would.

    On a fallback the fast path's partial work is undone by ``reset``, which
    clears what it wrote and returns the message to parse into (default:
    ``message.Clear()``). Raises json_format.ParseError for what it rejects.
    """
    try:
        parser(message.DESCRIPTOR)(value, message, 1)
    except RecursionError:
        raise
    except Exception:  # noqa: S110 - _Fallback, or what the fast path did not foresee
        pass
    else:
        return
    if reset is None:
        message.Clear()
    else:
        message = reset()
    try:
        json_format.ParseDict(value, message, max_recursion_depth=MAX_DEPTH)
    except (json_format.ParseError, RecursionError):
        raise
    except Exception as exc:  # as json_format.Parse wraps them
        reason = f"{type(exc).__name__}: {exc}"
        raise json_format.ParseError(f"Failed to parse JSON: {reason}.") from exc
    if has_field_mask(message.DESCRIPTOR):
        try:
            check_field_masks(message)
        except FieldError as exc:
            raise json_format.ParseError(str(exc)) from None


def _is_special(descriptor: Any) -> bool:
    return bool(descriptor.full_name.startswith("google.protobuf."))


def parser(descriptor: Any) -> Parser:
    """The fast-path parser for messages of ``descriptor``'s type; it raises _Fallback."""
    cached = _CACHE.get(descriptor.full_name)
    if cached is not None:
        return cached
    if _is_special(descriptor) or descriptor.is_extendable:
        _CACHE[descriptor.full_name] = _delegate
        return _delegate
    # key (proto name, then JSON name on top, as json_format looks them up) -> field
    table: dict[str, tuple[str | None, _Assign, Callable[[Message], None]]] = {}

    def parse(js: Any, message: Message, depth: int) -> None:
        if type(js) is not dict or depth > MAX_DEPTH:
            raise _Fallback
        # json_format's duplicate check: keys given, and oneofs with a non-null member.
        names: set[str] = set()
        for key, value in js.items():
            entry = table.get(key)
            if entry is None or key in names:
                raise _Fallback
            names.add(key)
            oneof, assign, on_null = entry
            if value is None:
                on_null(message)
                continue
            if oneof is not None:
                if oneof in names:
                    raise _Fallback
                names.add(oneof)
            assign(message, value, depth)

    # Registered before the fields are planned, so recursive types find themselves.
    _CACHE[descriptor.full_name] = parse
    entries: dict[str, tuple[str | None, _Assign, Callable[[Message], None]]] = {}
    for field in descriptor.fields:
        oneof = field.containing_oneof.name if field.containing_oneof is not None else None
        entries[field.name] = (oneof, _assigner(field), _null_setter(field))
    for field in descriptor.fields:
        table[field.name] = entries[field.name]
    for field in descriptor.fields:
        table[field.json_name] = entries[field.name]
    return parse


def _delegate(js: Any, message: Message, depth: int) -> None:
    """A well-known type: json_format, with the depth left below this message."""
    try:
        json_format.ParseDict(js, message, max_recursion_depth=MAX_DEPTH - depth + 1)
        if has_field_mask(message.DESCRIPTOR):
            check_field_masks(message)
    except Exception:
        raise _Fallback from None


def _null_setter(field: Any) -> Callable[[Message], None]:
    name = field.name
    message_type = field.message_type
    if message_type is not None and _is_value(message_type):
        if _is_repeated(field):
            return _give_up  # json_format fails on it

        def null_value(message: Message) -> None:
            getattr(message, name).null_value = 0

        return null_value
    enum_type = field.enum_type
    if enum_type is not None and enum_type.full_name == "google.protobuf.NullValue":
        if _is_repeated(field):
            return _give_up  # json_format fails on it

        def null_enum(message: Message) -> None:
            setattr(message, name, 0)

        return null_enum

    def clear(message: Message) -> None:
        message.ClearField(name)

    return clear


def _is_value(descriptor: Any) -> bool:
    """google.protobuf.Value: JSON null is its null_value, not an absent field."""
    return bool(descriptor.full_name == "google.protobuf.Value")


def _give_up(*_: Any) -> None:
    raise _Fallback


def _assigner(field: Any) -> _Assign:
    name = field.name
    if _is_map(field):
        return _map_assigner(field)
    if _is_repeated(field):
        if field.message_type is not None:
            element = parser(field.message_type)
            nullable = _is_value(field.message_type)

            def repeated_messages(message: Message, value: Any, depth: int) -> None:
                if type(value) is not list:
                    raise _Fallback
                message.ClearField(name)
                target = getattr(message, name)
                for item in value:
                    if item is None:
                        if not nullable or depth >= MAX_DEPTH:  # a Value one level down
                            raise _Fallback
                        target.add().null_value = 0
                    else:
                        element(item, target.add(), depth + 1)

            return repeated_messages
        convert = _converter(field)

        def repeated_scalars(message: Message, value: Any, depth: int) -> None:
            if type(value) is not list:
                raise _Fallback
            message.ClearField(name)
            getattr(message, name).extend([convert(item) for item in value])

        return repeated_scalars
    if field.message_type is not None:
        sub_parser = parser(field.message_type)

        def sub_message(message: Message, value: Any, depth: int) -> None:
            target = getattr(message, name)
            target.SetInParent()
            sub_parser(value, target, depth + 1)

        return sub_message
    convert = _converter(field)

    def scalar(message: Message, value: Any, depth: int) -> None:
        setattr(message, name, convert(value))

    return scalar


def _map_assigner(field: Any) -> _Assign:
    name = field.name
    entry = field.message_type
    convert_key = _key_converter(entry.fields_by_name["key"])
    value_field = entry.fields_by_name["value"]
    if value_field.message_type is not None:
        value_parser = parser(value_field.message_type)
        nullable = _is_value(value_field.message_type)

        def message_map(message: Message, value: Any, depth: int) -> None:
            if type(value) is not dict:
                raise _Fallback
            message.ClearField(name)
            target = getattr(message, name)
            for key, item in value.items():
                if item is None:
                    if not nullable or depth >= MAX_DEPTH:  # a Value one level down
                        raise _Fallback
                    target[convert_key(key)].null_value = 0
                else:
                    value_parser(item, target[convert_key(key)], depth + 1)

        return message_map
    convert = _converter(value_field)

    def scalar_map(message: Message, value: Any, depth: int) -> None:
        if type(value) is not dict:
            raise _Fallback
        message.ClearField(name)
        target = getattr(message, name)
        for key, item in value.items():
            target[convert_key(key)] = convert(item)

    return scalar_map


def _key_converter(field: Any) -> _Convert:
    """Map keys are JSON object keys: always strings."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return _string
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return _bool_key
    low, high = _INT_RANGES[cpp]

    def int_key(key: str) -> int:
        if not _DIGITS.match(key):
            raise _Fallback
        number = int(key)
        if not low <= number <= high:
            raise _Fallback
        return number

    return int_key


def _bool_key(key: str) -> bool:
    if key == "true":
        return True
    if key == "false":
        return False
    raise _Fallback


def _converter(field: Any) -> _Convert:
    """JSON value -> the Python value json_format would assign, or _Fallback."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return _bytes if field.type == FieldDescriptor.TYPE_BYTES else _string
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return _bool
    if cpp in _INT_RANGES:
        return _int_converter(*_INT_RANGES[cpp])
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum = field.enum_type
        by_name: dict[str, int] = {v.name: v.number for v in enum.values}
        numbers = frozenset(by_name.values())
        # An open enum takes any int32, known or not (json_format keeps the number).
        low, high = (0, -1) if enum.is_closed else _INT_RANGES[FieldDescriptor.CPPTYPE_INT32]

        def to_enum(value: Any) -> int:
            if type(value) is str:
                number = by_name.get(value)
                if number is not None:
                    return number
            elif type(value) is int and (value in numbers or low <= value <= high):
                known: int = value
                return known
            raise _Fallback

        return to_enum
    raise _Fallback  # pragma: no cover - every scalar kind is above


def _string(value: Any) -> str:
    if type(value) is not str or (not value.isascii() and _LONE_SURROGATE.search(value)):
        raise _Fallback
    return value


def _bytes(value: Any) -> bytes:
    if type(value) is not str:
        raise _Fallback
    try:
        # json_format's decoding, lenient as it is: either alphabet, padding optional.
        encoded = value.encode("utf-8")
        return base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4))
    except ValueError:
        raise _Fallback from None


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Fallback
    return value


def _int_converter(low: int, high: int) -> _Convert:
    def to_int(value: Any) -> int:
        if type(value) is int:
            number = value
        elif type(value) is str and _DIGITS.match(value):
            number = int(value)
        else:
            raise _Fallback
        if not low <= number <= high:
            raise _Fallback
        return number

    return to_int


def _double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise _Fallback
        return value  # type: ignore[no-any-return]
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    raise _Fallback


def _float(value: Any) -> float:
    number = _double(value)
    if type(value) is float and not -_FLOAT32_MAX <= number <= _FLOAT32_MAX:
        raise _Fallback
    return number
