"""Validation patterns are anchored at the very end: a trailing newline never passes.

``re.match(r"^x$", "x\\n")`` matches (``$`` also matches before a final
newline); the gateway's patterns end in ``\\Z``.
"""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.headers import parse_grpc_timeout, read_headers
from gateway.templates import TemplateError, parse_template


def _headers(*pairs: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return list(pairs)


def test_request_id_with_a_trailing_newline_is_replaced() -> None:
    kept = read_headers(_headers((b"x-request-id", b"req-42")), frozenset(), 15.0, 29.0)
    assert kept.request_id == "req-42"
    replaced = read_headers(_headers((b"x-request-id", b"req-42\n")), frozenset(), 15.0, 29.0)
    assert replaced.request_id != "req-42\n"
    assert len(replaced.request_id) == 32 and "\n" not in replaced.request_id


def test_grpc_timeout_with_a_trailing_newline_is_a_400() -> None:
    assert parse_grpc_timeout("5S") == 5.0
    with pytest.raises(GatewayError) as caught:
        parse_grpc_timeout("5S\n")
    assert caught.value.http_status == 400


def test_metadata_key_with_a_trailing_newline_is_a_400() -> None:
    ok = read_headers(_headers((b"grpc-metadata-tenant", b"a")), frozenset(), 15.0, 29.0)
    assert ("tenant", "a") in ok.metadata
    with pytest.raises(GatewayError) as caught:
        read_headers(_headers((b"grpc-metadata-tenant\n", b"a")), frozenset(), 15.0, 29.0)
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    "template",
    [
        "/v1/things\n",  # literal segment
        "/v1/{name\n}",  # variable field path
        "/v1/{name}:cancel\n",  # custom verb
        "/v1/{book.name\n=shelves/*}",  # nested field path
    ],
)
def test_path_templates_with_a_trailing_newline_are_rejected(template: str) -> None:
    parse_template(template.replace("\n", ""))  # the same without it is fine
    with pytest.raises(TemplateError):
        parse_template(template)
