"""JSON/HTTP ⇄ protobuf for one binding, prepared once at start-up.

A :class:`Transcoder` knows its request and response classes, which fields
the path binds, where the body goes and which fields query parameters may
still fill. Per request it only parses and assigns: no descriptor walks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format, message_factory
from google.protobuf.message import Message

from gateway.errors import GatewayError
from gateway.fields import FieldError, FieldSetter, _is_repeated, resolve_field
from gateway.parse import decode_json, parse_json, parser
from gateway.render import dumps, printer
from gateway.rules import Binding, RuleError
from gateway.templates import Variable

__all__ = ["Transcoder"]

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(r"%2[Ff]")
# Bounds the cache of resolved query keys so random keys cannot grow memory.
_QUERY_CACHE_LIMIT = 256


def decode_component(raw: str, what: str, *, keep_slashes: bool = False) -> str:
    """Strict percent-decoding: a malformed escape or non-UTF-8 result is a 400."""
    if "%" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw):
        raise GatewayError(
            f"bad percent-encoding in {what}", violations=[(what, f"malformed escape in {raw!r}")]
        )
    try:
        if keep_slashes:
            # HttpRule: multi-segment variables decode everything except %2F.
            return "%2F".join(unquote(p, errors="strict") for p in _ENCODED_SLASH.split(raw))
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise GatewayError(
            f"bad percent-encoding in {what}", violations=[(what, "escapes are not UTF-8")]
        ) from None


class Transcoder:
    def __init__(self, binding: Binding) -> None:
        method = binding.method
        self.request_class: type[Message] = message_factory.GetMessageClass(method.input_type)
        self.response_class: type[Message] = message_factory.GetMessageClass(method.output_type)
        self.body = binding.body
        self.response_body = binding.response_body
        self.streaming = bool(method.server_streaming)
        self._input = method.input_type
        self._path: list[tuple[Variable, FieldSetter]] = []
        for variable in binding.template.variables:
            try:
                setter = resolve_field(method.input_type, variable.name)
            except FieldError as exc:
                raise RuleError(
                    f"{method.full_name}: path variable {variable.name}: {exc}"
                ) from None
            if setter.repeated:
                raise RuleError(f"{method.full_name}: path variable {variable.name} is repeated")
            self._path.append((variable, setter))
        self._bound = {setter.path for _, setter in self._path}
        self._query: dict[str, FieldSetter] = {}
        self._body_field_is_message = False
        if self.body not in ("", "*"):
            field = method.input_type.fields_by_name[self.body]
            self._body_field_is_message = field.message_type is not None and not _is_repeated(field)
        self._render = self._renderer()
        # The body parser is planned now, not on the first request.
        if self.body == "*" or (self.body and not self._body_field_is_message):
            parser(method.input_type)
        elif self.body:
            parser(method.input_type.fields_by_name[self.body].message_type)

    # -- request -----------------------------------------------------------

    def build_request(self, segments: list[str], query: str, body: bytes) -> Message:
        request = self.request_class()
        if self.body:
            self._parse_body(request, body)
        if query:
            self._apply_query(request, query)
        for variable, setter in self._path:
            end = variable.end if variable.end is not None else len(segments)
            raw = "/".join(segments[variable.start : end])
            value = decode_component(raw, variable.name, keep_slashes=variable.multi_segment)
            if not value:
                raise GatewayError(
                    f"missing value for path variable {variable.name}",
                    violations=[(variable.name, "must not be empty")],
                )
            try:
                setter.set(request, value)
            except FieldError as exc:
                raise GatewayError(str(exc), violations=[(variable.name, str(exc))]) from None
        return request

    def _parse_body(self, request: Message, body: bytes) -> Any:
        """Parse ``body`` into ``request``; the decoded JSON (None for no body)."""
        if not body.strip():
            return None  # an absent body is an empty message, as grpc-gateway treats it
        where = "body" if self.body == "*" else self.body
        try:
            value = decode_json(body)
            if self.body == "*":
                parse_json(value, request)
            elif self._body_field_is_message:
                name = self.body

                def reset() -> Message:
                    request.ClearField(name)
                    sub: Message = getattr(request, name)
                    return sub

                parse_json(value, getattr(request, name), reset)
            else:
                parse_json({self.body: value}, request)
        except RecursionError:
            raise GatewayError(
                "request body nests too deeply", violations=[(where, "too deep")]
            ) from None
        except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
            # ParseError covers JSON syntax, unknown fields, wrong types and bad enums.
            message = str(exc) or "invalid JSON"
            raise GatewayError(
                f"invalid request body: {message}", violations=[(where, message)]
            ) from None
        return value

    def _apply_query(self, request: Message, query: str) -> None:
        for pair in query.split("&"):
            if not pair:
                continue
            raw_key, _, raw_value = pair.partition("=")
            key = decode_component(raw_key.replace("+", " "), "query parameter name")
            value = decode_component(raw_value.replace("+", " "), key)
            setter = self._query_setter(key)
            try:
                setter.set(request, value)
            except FieldError as exc:
                raise GatewayError(str(exc), violations=[(key, str(exc))]) from None

    def _query_setter(self, key: str) -> FieldSetter:
        setter = self._query.get(key)
        if setter is not None:
            return setter
        if self.body == "*":
            raise GatewayError(
                f"unknown query parameter {key!r}: the body carries the whole request",
                violations=[(key, "unknown query parameter")],
            )
        try:
            setter = resolve_field(self._input, key)
        except FieldError as exc:
            raise GatewayError(
                f"unknown query parameter {key!r}", violations=[(key, str(exc))]
            ) from None
        if setter.path[0] == self.body or any(
            setter.path[: len(b)] == b or b[: len(setter.path)] == setter.path for b in self._bound
        ):
            raise GatewayError(
                f"query parameter {key!r} sets a field bound by the path or body",
                violations=[(key, "bound by the path or body")],
            )
        if len(self._query) < _QUERY_CACHE_LIMIT:
            self._query[key] = setter
        return setter

    # -- response ----------------------------------------------------------

    def _renderer(self) -> Callable[[Message], Any]:
        whole = printer(self.response_class.DESCRIPTOR)
        if not self.response_body:
            return whole
        name = self.response_body
        field = self.response_class.DESCRIPTOR.fields_by_name[name]
        if field.message_type is not None and not _is_repeated(field):
            part = printer(field.message_type)
            return lambda message: part(getattr(message, name))
        key = field.json_name
        return lambda message: whole(message).get(key)

    def render(self, message: Message) -> bytes:
        """The response (or its ``response_body`` field) as compact proto3 JSON."""
        return dumps(self._render(message))

    def render_value(self, message: Message) -> Any:
        return self._render(message)
