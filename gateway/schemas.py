"""JSON Schemas of messages for the OpenAPI document: proto3 JSON, comments, field behaviour.

One component per message type (well-known types inline, in their JSON
forms), with the contract's comments as descriptions and
``google.api.field_behavior`` mapped the way OpenAPI tools read it:

- REQUIRED: listed in the message's ``required`` (minus fields a path
  variable fills: the URL carries those);
- OUTPUT_ONLY: ``readOnly`` (a generated client leaves it out of requests);
- INPUT_ONLY: ``writeOnly``;
- IMMUTABLE and IDENTIFIER: said in the description.

Examples are only what the contracts say: a field comment's ``e.g. "EUR"``
(or ``e.g. 1200`` for a number) becomes the field's example; timestamps and
durations get one of their JSON form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.fields import WRAPPERS, _is_map, _is_repeated, behaviours
from gateway.sourceinfo import Comments

__all__ = ["REF", "WKT_SCHEMAS", "Schemas"]

REF = "#/components/schemas/"
_INT32 = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}
_INT64 = {
    FieldDescriptor.TYPE_INT64: "^-?[0-9]{1,19}$",
    FieldDescriptor.TYPE_SINT64: "^-?[0-9]{1,19}$",
    FieldDescriptor.TYPE_SFIXED64: "^-?[0-9]{1,19}$",
    FieldDescriptor.TYPE_UINT64: "^[0-9]{1,20}$",
    FieldDescriptor.TYPE_FIXED64: "^[0-9]{1,20}$",
}
WKT_SCHEMAS: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "examples": ["2026-01-31T09:30:00Z"],
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "examples": ["30s"],
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Field paths in lowerCamelCase, comma-separated (`a,b.c`)",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
}
_B = field_behavior_pb2
# "e.g. "EUR"", "for example "EUR"", "e.g. 1200": the contracts' own examples.
_STRING_EXAMPLE = re.compile(r'(?:e\.g\.|for example|such as),? "([^"\n]{1,200})"')
_NUMBER_EXAMPLE = re.compile(r"(?:e\.g\.|for example|such as),? (-?[0-9]{1,19})\b")


class Schemas:
    """Builds schemas on demand and keeps every message's as a component.

    ``path_bound``: message full name -> fields some path variable fills,
    which a body need not carry even when REQUIRED.
    """

    def __init__(
        self, comments: Comments, path_bound: Mapping[str, Set[str]] | None = None
    ) -> None:
        self.components: dict[str, Any] = {}
        self._comments = comments
        self._path_bound = path_bound or {}

    def comment(self, full_name: str) -> str:
        return self._comments.get(full_name, "")

    def message(self, message: Descriptor) -> dict[str, Any]:
        """A reference to ``message``'s component (the schema itself for a WKT)."""
        name = message.full_name
        if name in WKT_SCHEMAS:
            return dict(WKT_SCHEMAS[name])
        if name in WRAPPERS:
            return self.field(message.fields_by_name["value"], ignore_repeated=True)
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may recurse
            self.components[name] = self._component(message)
        return {"$ref": REF + name}

    def _component(self, message: Descriptor) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "title": message.name}
        description = self.comment(message.full_name)
        if description:
            schema["description"] = description
        schema["additionalProperties"] = False
        schema["properties"] = {f.json_name: self.property(f) for f in message.fields}
        bound = self._path_bound.get(message.full_name, frozenset())
        required = [
            f.json_name
            for f in message.fields
            if _B.REQUIRED in behaviours(f) and f.name not in bound
        ]
        if required:
            schema["required"] = required
        return schema

    def property(self, field: FieldDescriptor) -> dict[str, Any]:
        """The field's schema with its description, behaviour and example."""
        schema = self.field(field)
        described = self.describe(field)
        if described:
            schema["description"] = described
        kinds = behaviours(field)
        if _B.OUTPUT_ONLY in kinds:
            schema["readOnly"] = True
        if _B.INPUT_ONLY in kinds:
            schema["writeOnly"] = True
        example = self.example(field)
        if example is not None:
            schema["examples"] = [example]
        return schema

    def describe(self, field: FieldDescriptor) -> str:
        """The field's comment, with what its behaviour and enum values mean."""
        parts = [self.comment(field.full_name)]
        kinds = behaviours(field)
        if _B.IMMUTABLE in kinds:
            parts.append("Immutable: set when the resource is created, never changed after.")
        if _B.IDENTIFIER in kinds:
            parts.append("Identifier: the resource's name; on update it comes from the path.")
        if field.enum_type is not None:
            parts.append(self._enum_values(field.enum_type))
        return "\n\n".join(p for p in parts if p)

    def _enum_values(self, enum: EnumDescriptor) -> str:
        lines = [
            f"- `{v.name}`: {text}"
            for v in enum.values
            if (text := self.comment(f"{enum.full_name}.{v.name}").replace("\n", " "))
        ]
        return "\n".join(lines)

    def example(self, field: FieldDescriptor) -> Any:
        """An example stated in the field's comment, in the field's JSON type; else None."""
        if _is_map(field) or field.message_type is not None:
            return None
        text = self.comment(field.full_name)
        if not text:
            return None
        found: Any
        if field.type == FieldDescriptor.TYPE_STRING:
            match = _STRING_EXAMPLE.search(text)
            found = match.group(1) if match else None
        elif field.type in _INT32 or field.type in _INT64:
            match = _NUMBER_EXAMPLE.search(text)
            found = None if match is None else match.group(1)
            if found is not None and field.type in _INT32:
                found = int(found)
        else:
            return None
        if found is None:
            return None
        return [found] if _is_repeated(field) else found

    def field(self, field: FieldDescriptor, *, ignore_repeated: bool = False) -> dict[str, Any]:
        """The field's value schema alone (no description): proto3 JSON."""
        if _is_map(field):
            assert field.message_type is not None
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.field(value)}
        schema = self._single(field)
        if _is_repeated(field) and not ignore_repeated:
            return {"type": "array", "items": schema}
        return schema

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        kind = field.type
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldDescriptor.TYPE_STRING:
            return {"type": "string"}
        if kind == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "format": "byte", "contentEncoding": "base64"}
        if kind in _INT32:
            low, high = _INT32[kind]
            return {"type": "integer", "format": "int32", "minimum": low, "maximum": high}
        if kind in _INT64:
            # proto3 JSON writes 64-bit integers as strings and reads either form.
            return {"type": "string", "format": "int64", "pattern": _INT64[kind]}
        return {"type": "number"}
