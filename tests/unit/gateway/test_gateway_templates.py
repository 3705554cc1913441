from __future__ import annotations

import pytest

from gateway.templates import SegmentKind, TemplateError, parse_template


def test_literal_and_variable() -> None:
    t = parse_template("/v1/{name=products/*}")
    assert [str(s) for s in t.segments] == ["v1", "products", "*"]
    (var,) = t.variables
    assert (var.field_path, var.start, var.end, var.multi_segment) == (("name",), 1, 3, True)


def test_nested_field_path_and_verb() -> None:
    t = parse_template("/v1/{book.name=shelves/*/books/*}:read")
    assert t.verb == "read"
    assert t.variables[0].field_path == ("book", "name")
    assert t.shape == "/v1/shelves/*/books/*:read"


def test_bare_variable_is_single_segment() -> None:
    t = parse_template("/v1/multi/{name}")
    assert t.segments[-1].kind is SegmentKind.STAR
    assert not t.variables[0].multi_segment


def test_double_star_runs_to_the_end() -> None:
    t = parse_template("/v1/files/{path=**}")
    assert t.variables[0].end is None
    assert t.variables[0].multi_segment


def test_colon_inside_braces_is_not_a_verb() -> None:
    assert parse_template("/v1/{name=a/*}").verb is None


@pytest.mark.parametrize(
    "bad",
    [
        "v1/x",
        "/v1/{name",
        "/v1/name}",
        "/v1/{a.=x}",
        "/v1/**/x",
        "/v1/{a={b}}",
        "/v1/x:",
        "/v1/{a}/{a}",
    ],
)
def test_malformed_templates_are_rejected(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(bad)
