"""Partial updates: a PATCH without an ``update_mask`` updates the fields its body names.

A binding qualifies when its HTTP method is PATCH, its body is one message
field of the request (the resource, ``body: "product"``) and the request has
a ``google.protobuf.FieldMask update_mask``. When the request carries no mask
(none in the query), the mask is made from the JSON keys of the body, as
grpc-gateway does:

- a key naming a message field whose value is a non-empty object is followed
  into: ``{"price": ...}`` inside ``{"shipping": {...}}`` gives
  ``shipping.price``;
- anything else is one path: a scalar, ``null`` (which clears the field), an
  empty object (likewise), a map or a repeated field (a field mask cannot
  reach inside them), and a value type (see :func:`is_value_type`), which is
  replaced whole;
- OUTPUT_ONLY and IMMUTABLE keys become paths like any other: the service
  ignores the first and checks the second (AIP-203), as it must for an
  explicit mask naming them.

An empty body (or ``{}``) makes no mask, so the service's default for an
empty mask applies. A mask given in the query (``update_mask=a,b.c``) wins:
the body's keys are then only values. Checking that a path names an
updatable field is the service's job (FieldMask's contract: INVALID_ARGUMENT
for an unmappable path).
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.fields import _is_map, _is_repeated
from gateway.rules import Binding
from gateway.transcode import Transcoder

__all__ = [
    "MASK_FIELD",
    "PatchTranscoder",
    "is_value_type",
    "mask_field",
    "mask_paths",
    "transcoder_for",
]

MASK_FIELD = "update_mask"
_FIELD_MASK = "google.protobuf.FieldMask"
# AIP-213's common components: google.protobuf, google.type and an API's own
# `<api>.type.vN` package (shop.type.v1.Money). A price is one value: half of
# it (an amount without its currency) means nothing.
_VALUE_PACKAGE = re.compile(
    r"^(google\.protobuf|google\.type|[a-z0-9_.]+\.type\.v[0-9][a-z0-9]*)\Z"
)
_TABLES: dict[str, dict[str, FieldDescriptor]] = {}


def is_value_type(message: Descriptor) -> bool:
    """A message type that a mask path names whole, never field by field."""
    return bool(_VALUE_PACKAGE.match(message.file.package))


def mask_field(binding: Binding) -> FieldDescriptor | None:
    """The request's ``update_mask`` when ``binding`` is a PATCH of one resource field."""
    if binding.http_method != "PATCH" or binding.body in ("", "*"):
        return None
    request = binding.method.input_type
    body = request.fields_by_name[binding.body]
    if body.message_type is None or _is_repeated(body):
        return None
    field = request.fields_by_name.get(MASK_FIELD)
    if field is None or field.message_type is None or field.message_type.full_name != _FIELD_MASK:
        return None
    return field


def mask_paths(message: Descriptor, body: dict[str, Any]) -> list[str]:
    """The field mask paths (proto names) that the JSON object ``body`` names.

    ``body`` has already been parsed into ``message`` successfully, so every
    key names a field; a key that does not (a caller's mistake) is skipped.
    """
    paths: list[str] = []
    _collect(message, body, "", paths)
    # A field given by both its names ({"update_time": .., "updateTime": ..}) is one path.
    return list(dict.fromkeys(paths))


def _collect(message: Descriptor, body: dict[str, Any], prefix: str, paths: list[str]) -> None:
    table = _table(message)
    for key, value in body.items():
        field = table.get(key)
        if field is None:
            continue
        path = prefix + field.name
        sub = field.message_type
        if (
            sub is not None
            and type(value) is dict
            and value
            and not _is_map(field)
            and not _is_repeated(field)
            and not is_value_type(sub)
        ):
            _collect(sub, value, path + ".", paths)
        else:
            paths.append(path)


def _table(message: Descriptor) -> dict[str, FieldDescriptor]:
    """Fields by proto name and by JSON name, as json_format reads keys."""
    table = _TABLES.get(message.full_name)
    if table is None:
        table = {f.name: f for f in message.fields}
        for f in message.fields:
            table.setdefault(f.json_name, f)
        _TABLES[message.full_name] = table
    return table


class PatchTranscoder(Transcoder):
    """A :class:`Transcoder` that fills ``update_mask`` from the body's keys.

    Only PATCH routes of this shape pay for it; every other route keeps the
    plain transcoder. The mask is set right after the body is parsed, so a
    mask in the query, applied next, replaces it.
    """

    def __init__(self, binding: Binding, mask: FieldDescriptor) -> None:
        super().__init__(binding)
        self._mask_name = mask.name
        resource = binding.method.input_type.fields_by_name[binding.body].message_type
        assert resource is not None  # mask_field checked it
        self._resource: Descriptor = resource

    def _parse_body(self, request: Message, body: bytes) -> Any:
        value = super()._parse_body(request, body)
        if type(value) is dict and value:
            mask = getattr(request, self._mask_name)
            mask.paths.extend(mask_paths(self._resource, value))
        return value


def transcoder_for(binding: Binding) -> Transcoder:
    """The transcoder a binding needs: with mask filling for partial PATCHes only."""
    mask = mask_field(binding)
    return Transcoder(binding) if mask is None else PatchTranscoder(binding, mask)
