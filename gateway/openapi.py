"""OpenAPI 3.1 from the same descriptors and bindings the router serves.

Paths: each ``*`` of a template becomes a path parameter (a variable with one
wildcard is named after its field, e.g. ``{name}`` in ``/v1/products/{name}``
or ``{product_name}``; with several, ``{book_name_1}``, ``{book_name_2}``...), since OpenAPI path
parameters cannot hold the literal parts of a resource name. Schemas
(:mod:`gateway.schemas`) follow the proto3 JSON mapping and the fields'
behaviour. Summaries and descriptions are the contracts' comments
(:mod:`gateway.sourceinfo`), plus what the gateway adds to a route (the
partial PATCH of :mod:`gateway.patch`) and the RPC's full name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2 as _B
from google.protobuf.descriptor import Descriptor, ServiceDescriptor

from gateway.fields import STRING_WKTS, WRAPPERS, _is_map, _is_repeated, behaviours
from gateway.patch import MASK_FIELD, mask_field
from gateway.rules import Binding
from gateway.schemas import REF, WKT_SCHEMAS, Schemas
from gateway.sourceinfo import Comments, first_sentence
from gateway.templates import SegmentKind, Template
from mesh.access import Rule, declared_scopes, rule_of

__all__ = ["build_openapi", "openapi_path"]

STATUS = "google.rpc.Status"
_QUERY_DEPTH = 3
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def openapi_path(template: Template) -> tuple[str, list[tuple[str, str, str]]]:
    """The OpenAPI path of a template and its parameters as (name, description, variable)."""
    names: dict[int, str] = {}
    params: list[tuple[str, str, str]] = []
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
            params.append((name, f"Segment of `{variable.name}` (`{pattern}`).", variable.name))
    parts: list[str] = []
    for i, seg in enumerate(template.segments):
        if seg.kind is SegmentKind.LITERAL:
            parts.append(seg.literal)
            continue
        if i not in names:
            names[i] = f"segment{i}"
            params.append((names[i], "Unbound path segment.", ""))
        parts.append("{" + names[i] + "}")
    path = "/" + "/".join(parts)
    return (path + f":{template.verb}" if template.verb else path), params


def _query_params(
    schemas: Schemas, message: Descriptor, bound: set[tuple[str, ...]], body: str
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
                param: dict[str, Any] = {"name": ".".join(path), "in": "query", "required": False}
                described = schemas.describe(field)
                if described:
                    param["description"] = described
                param["schema"] = schemas.field(field)
                example = schemas.example(field)
                if example is not None:
                    param["example"] = example
                if _is_repeated(field):
                    param["explode"] = True
                out.append(param)
            elif (
                not _is_repeated(field)
                and sub.full_name not in seen
                and len(path) < _QUERY_DEPTH
                and sub.full_name not in WKT_SCHEMAS
            ):
                visit(sub, path, (*seen, sub.full_name))

    visit(message, (), (message.full_name,))
    return out


def _path_bound(bindings: Sequence[Binding]) -> dict[str, set[str]]:
    """Message full name -> its fields that some path variable fills (the leaf of
    ``a.b.c``; of bindings with a body): fields a body schema need not require."""
    bound: dict[str, set[str]] = {}
    for binding in bindings:
        for variable in binding.template.variables:
            message: Any = binding.method.input_type
            *parents, leaf = variable.field_path
            for name in parents:
                field = message.fields_by_name.get(name) if message is not None else None
                message = field.message_type if field is not None else None
            if message is not None:
                bound.setdefault(message.full_name, set()).add(leaf)
    return bound


def _path_comments(binding: Binding, schemas: Schemas) -> dict[str, str]:
    """Variable name -> the comment of the field it fills."""
    found: dict[str, str] = {}
    for variable in binding.template.variables:
        message: Any = binding.method.input_type
        field: Any = None
        for name in variable.field_path:
            field = message.fields_by_name.get(name) if message is not None else None
            message = field.message_type if field is not None else None
        if field is not None:
            found[variable.name] = first_sentence(schemas.comment(field.full_name))
    return found


# What a partial PATCH does (gateway/patch.py), for the operations that have one.
PARTIAL_UPDATE = (
    "**Partial update.** Send only the fields to change: without `update_mask`, the "
    "gateway makes the mask from the body's keys. A nested object names its fields "
    "(`a.b`); a list, a map, `null`, `{}` and a value type (a timestamp, an amount of "
    'money) name the whole field, sent and replaced whole. `false`, `0` and `""` are '
    "values too: a key present is a field to change. An `update_mask` in the query "
    "wins (the FieldMask's JSON form: lowerCamelCase paths, comma-separated, such as "
    "`a,b.c`). The service ignores output-only fields (AIP-203), so a resource read "
    "with GET can be sent back changed. An empty body carries no mask: then the "
    "service's rule for an empty mask applies."
)


def _describe_operation(binding: Binding, schemas: Schemas) -> tuple[str, str]:
    """Summary and description: the RPC's comment, what the route adds, the RPC's name."""
    method = binding.method
    comment = schemas.comment(method.full_name)
    parts = [comment]
    if mask_field(binding) is not None:
        parts.append(PARTIAL_UPDATE)
    parts.append(f"gRPC: `{method.full_name}`")
    summary = first_sentence(comment) or method.name
    return summary, "\n\n".join(p for p in parts if p)


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Status",
        "description": "google.rpc.Status: the body of every error response.",
        "properties": {
            "code": {
                "type": "integer",
                "description": "The gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, ...).",
            },
            "message": {"type": "string", "description": "What went wrong, for a developer."},
            "details": {
                "type": "array",
                "items": WKT_SCHEMAS["google.protobuf.Any"],
                "description": "Typed details: `google.rpc.BadRequest` (field violations), "
                "`google.rpc.ErrorInfo` (a machine-readable reason such as "
                "`INSUFFICIENT_STOCK`), `google.rpc.RetryInfo`...",
            },
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
    comments: Comments | None = None,
) -> dict[str, Any]:
    """``oauth``: the issuer's endpoints, for an OAuth2 security scheme beside bearer.
    ``comments``: the contracts' comments by full name (:mod:`gateway.sourceinfo`),
    which become summaries and descriptions."""
    comments = comments or {}
    schemas = Schemas(comments, _path_bound([b for b in bindings if b.body]))
    scopes = declared_scopes(services.values())
    schemes = _security_schemes(scopes, oauth)
    error = {
        "description": "Error: a google.rpc.Status",
        "content": {"application/json": {"schema": {"$ref": REF + STATUS}}},
    }
    paths: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for binding in bindings:
        method = binding.method
        rule = rule_of(method)
        path, path_params = openapi_path(binding.template)
        described = _path_comments(binding, schemas)
        base = f"{method.containing_service.name}_{method.name}"
        counts[base] = counts.get(base, 0) + 1
        op_id = base if counts[base] == 1 else f"{base}_{counts[base]}"
        parameters: list[dict[str, Any]] = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "description": _join(described.get(v, ""), d),
                "schema": {"type": "string", "pattern": "^[^/]+$"},
            }
            for n, d, v in path_params
        ]
        if binding.body != "*":
            bound = {v.field_path for v in binding.template.variables}
            # Proto names in bound paths; compare with field names.
            parameters += _query_params(schemas, method.input_type, bound, binding.body)
        if mask_field(binding) is not None:
            for param in parameters:
                if param["name"] == MASK_FIELD:
                    param["description"] = _join(
                        param.get("description", ""),
                        "Optional: without it the mask is made from the body's keys.",
                    )
        summary, description = _describe_operation(binding, schemas)
        operation: dict[str, Any] = {
            "operationId": op_id,
            "summary": summary,
            "description": description,
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
            operation["requestBody"] = _request_body(schemas, binding)
        item = paths.setdefault(path, {})
        if binding.http_method.lower() in _OPENAPI_METHODS:
            item[binding.http_method.lower()] = operation
        else:
            # OpenAPI 3.1 has a fixed method list; custom HttpRule kinds (SEARCH...)
            # go in an extension, as 3.2's additionalOperations will hold them.
            item.setdefault("x-additional-operations", {})[binding.http_method] = operation
    schemas.components[STATUS] = _status_schema()
    tags = [
        {"name": s.full_name, **({"description": d} if (d := schemas.comment(s.full_name)) else {})}
        for s in services.values()
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Generated at run time from the google.api.http annotations and "
            "comments of: "
            + ", ".join(s.full_name for s in services.values())
            + ". Errors are `google.rpc.Status` JSON bodies (`code`, `message`, `details`) "
            "with the HTTP status of the standard gRPC mapping.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": schemes,
        },
    }


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _request_body(schemas: Schemas, binding: Binding) -> dict[str, Any]:
    request = binding.method.input_type
    if binding.body == "*":
        return {
            "required": False,  # an absent body is an empty message
            "content": {"application/json": {"schema": schemas.message(request)}},
        }
    field = request.fields_by_name[binding.body]
    body: dict[str, Any] = {}
    described = schemas.comment(field.full_name)
    if described:
        body["description"] = described
    body["required"] = _B.REQUIRED in behaviours(field)
    body["content"] = {"application/json": {"schema": schemas.field(field)}}
    return body


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


def _success(schemas: Schemas, binding: Binding) -> dict[str, Any]:
    output = binding.method.output_type
    if binding.response_body:
        schema = schemas.field(output.fields_by_name[binding.response_body])
    else:
        schema = schemas.message(output)
    if binding.method.server_streaming:
        line = {
            "type": "object",
            "properties": {"result": schema, "error": {"$ref": REF + STATUS}},
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
