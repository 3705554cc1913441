"""OpenAPI 3.1 from the same descriptors and bindings the router serves.

Paths: each ``*`` of a template becomes a path parameter (a variable with one
wildcard is named after its field, e.g. ``{name}`` in ``/v1/products/{name}``
or ``{product_name}``; with several, ``{book_name_1}``, ``{book_name_2}``...), since OpenAPI path
parameters cannot hold the literal parts of a resource name. Schemas follow
the proto3 JSON mapping (int64 as string or integer, enums by name, WKTs in
their JSON forms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from gateway.fields import STRING_WKTS, WRAPPERS, _is_map, _is_repeated
from gateway.rules import Binding
from gateway.templates import SegmentKind, Template
from mesh.access import Rule, declared_scopes, rule_of

__all__ = ["build_openapi", "openapi_path"]

STATUS = "google.rpc.Status"
_REF = "#/components/schemas/"
_QUERY_DEPTH = 3
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
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
_WKT_SCHEMAS: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
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


def openapi_path(template: Template) -> tuple[str, list[tuple[str, str]]]:
    """The OpenAPI path of a template and its parameters as (name, description)."""
    names: dict[int, str] = {}
    params: list[tuple[str, str]] = []
    for variable in template.variables:
        end = variable.end if variable.end is not None else len(template.segments)
        wild = [
            i
            for i in range(variable.start, end)
            if template.segments[i].kind is not SegmentKind.LITERAL
        ]
        pattern = "/".join(str(s) for s in variable.segments)
        for n, index in enumerate(wild, 1):
            # Dots in parameter names trip up tools that read them as
            # expressions, so ``book.name`` becomes ``book_name``.
            base = "_".join(variable.field_path)
            name = base if len(wild) == 1 else f"{base}_{n}"
            names[index] = name
            params.append((name, f"segment of `{variable.name}` (`{pattern}`)"))
    parts: list[str] = []
    for i, seg in enumerate(template.segments):
        if seg.kind is SegmentKind.LITERAL:
            parts.append(seg.literal)
            continue
        if i not in names:
            names[i] = f"segment{i}"
            params.append((names[i], "unbound path segment"))
        parts.append("{" + names[i] + "}")
    path = "/" + "/".join(parts)
    return (path + f":{template.verb}" if template.verb else path), params


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def message(self, message: Descriptor) -> dict[str, Any]:
        name = message.full_name
        if name in _WKT_SCHEMAS:
            return dict(_WKT_SCHEMAS[name])
        if name in WRAPPERS:
            return self.field(message.fields_by_name["value"], ignore_repeated=True)
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may recurse
            self.components[name] = {
                "type": "object",
                "title": message.name,
                "additionalProperties": False,
                "properties": {f.json_name: self.field(f) for f in message.fields},
            }
        return {"$ref": _REF + name}

    def field(self, field: FieldDescriptor, *, ignore_repeated: bool = False) -> dict[str, Any]:
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


def _query_params(
    schemas: _Schemas, message: Descriptor, bound: set[tuple[str, ...]], body: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def visit(msg: Descriptor, prefix: tuple[str, ...], seen: tuple[str, ...]) -> None:
        for field in msg.fields:
            path = (*prefix, field.name)
            if (not prefix and field.name == body) or path in bound or _is_map(field):
                continue
            sub: Any = field.message_type
            leaf = sub is None or sub.full_name in STRING_WKTS or sub.full_name in WRAPPERS
            if leaf:
                out.append(
                    {
                        "name": ".".join(path),
                        "in": "query",
                        "required": False,
                        "schema": schemas.field(field),
                        **({"explode": True} if _is_repeated(field) else {}),
                    }
                )
            elif (
                not _is_repeated(field)
                and sub.full_name not in seen
                and len(path) < _QUERY_DEPTH
                and sub.full_name not in _WKT_SCHEMAS
            ):
                visit(sub, path, (*seen, sub.full_name))

    visit(message, (), (message.full_name,))
    return out


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Status",
        "description": "google.rpc.Status: the body of every error response.",
        "properties": {
            "code": {"type": "integer", "description": "gRPC status code"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": _WKT_SCHEMAS["google.protobuf.Any"]},
        },
        "required": ["code", "message", "details"],
    }


def build_openapi(
    bindings: Sequence[Binding],
    services: Mapping[str, ServiceDescriptor],
    *,
    title: str = "Shop mesh REST API",
    version: str = "v1",
    oauth: OAuthUrls | None = None,
) -> dict[str, Any]:
    """``oauth``: the issuer's endpoints, for an OAuth2 security scheme beside bearer."""
    schemas = _Schemas()
    scopes = declared_scopes(services.values())
    schemes = _security_schemes(scopes, oauth)
    error = {
        "description": "Error: a google.rpc.Status",
        "content": {"application/json": {"schema": {"$ref": _REF + STATUS}}},
    }
    paths: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for binding in bindings:
        method = binding.method
        rule = rule_of(method)
        path, path_params = openapi_path(binding.template)
        base = f"{method.containing_service.name}_{method.name}"
        counts[base] = counts.get(base, 0) + 1
        op_id = base if counts[base] == 1 else f"{base}_{counts[base]}"
        parameters: list[dict[str, Any]] = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "description": d,
                "schema": {"type": "string", "pattern": "^[^/]+$"},
            }
            for n, d in path_params
        ]
        if binding.body != "*":
            bound = {v.field_path for v in binding.template.variables}
            # Proto names in bound paths; compare with field names.
            parameters += _query_params(schemas, method.input_type, bound, binding.body)
        operation: dict[str, Any] = {
            "operationId": op_id,
            "summary": f"{method.full_name}",
            "tags": [method.containing_service.full_name],
            "parameters": parameters,
            "responses": {
                "200": _success(schemas, binding),
                "400": error,
                **({} if rule.allow_anonymous else {"401": error, "403": error}),
                "429": error,
                "default": error,
            },
            "security": _security(rule, oauth),
        }
        if binding.body:
            field = method.input_type.fields_by_name[binding.body] if binding.body != "*" else None
            schema = schemas.message(method.input_type) if field is None else schemas.field(field)
            operation["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": schema}},
            }
        item = paths.setdefault(path, {})
        if binding.http_method.lower() in _OPENAPI_METHODS:
            item[binding.http_method.lower()] = operation
        else:
            # OpenAPI 3.1 has a fixed method list; custom HttpRule kinds (SEARCH...)
            # go in an extension, as 3.2's additionalOperations will hold them.
            item.setdefault("x-additional-operations", {})[binding.http_method] = operation
    schemas.components[STATUS] = _status_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Generated at run time from the google.api.http annotations of: "
            + ", ".join(s.full_name for s in services.values()),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": schemes,
        },
    }


@dataclass(frozen=True, slots=True)
class OAuthUrls:
    authorize: str
    token: str
    scope_prefix: str = ""


def _security_schemes(scopes: Mapping[str, str], oauth: OAuthUrls | None) -> dict[str, Any]:
    listed = "; ".join(f"`{n}`: {d}" for n, d in sorted(scopes.items()))
    schemes: dict[str, Any] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT from the shop's issuer; its `scope` claim holds the scopes "
            f"an operation lists. Scopes: {listed}",
        }
    }
    if oauth is not None:
        named = {oauth.scope_prefix + n: d for n, d in sorted(scopes.items())}
        schemes["oauth2"] = {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": oauth.authorize,
                    "tokenUrl": oauth.token,
                    "scopes": named,
                },
                "clientCredentials": {"tokenUrl": oauth.token, "scopes": named},
            },
        }
    return schemes


def _security(rule: Rule, oauth: OAuthUrls | None) -> list[dict[str, list[str]]]:
    needed = sorted(rule.scopes)
    requirement: list[dict[str, list[str]]] = [{"bearer": needed}]
    if oauth is not None:
        # The OAuth2 names are what a client asks the issuer for (Cognito: "shop/...").
        requirement.append({"oauth2": [oauth.scope_prefix + s for s in needed]})
    # Anonymous callers are welcome ({}); a token, when sent, is still checked.
    return [{}, *requirement] if rule.allow_anonymous else requirement


def _success(schemas: _Schemas, binding: Binding) -> dict[str, Any]:
    output = binding.method.output_type
    if binding.response_body:
        schema = schemas.field(output.fields_by_name[binding.response_body])
    else:
        schema = schemas.message(output)
    if binding.method.server_streaming:
        line = {
            "type": "object",
            "properties": {"result": schema, "error": {"$ref": _REF + STATUS}},
        }
        return {
            "description": "A stream: one JSON object per line (NDJSON), or SSE events "
            "when the request accepts text/event-stream",
            "content": {
                "application/x-ndjson": {"schema": line},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}
