"""Path templates of ``google.api.http`` rules, parsed once at start-up.

Grammar (from google/api/http.proto)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

A parsed :class:`Template` is a flat list of segments (what the router
matches) plus the variables as index ranges into that list (what the
transcoder binds), so matching never has to look at braces again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Segment", "SegmentKind", "Template", "TemplateError", "Variable", "parse_template"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Literal segments and verbs: anything a path segment may hold except the
# characters the grammar reserves, spaces and control characters (a URL path
# cannot carry them unescaped).
_LITERAL = re.compile(r"^[^/{}*:=\x00-\x20\x7f]+\Z")


class TemplateError(ValueError):
    """A path template does not follow the HttpRule grammar."""


class SegmentKind(Enum):
    LITERAL = "literal"
    STAR = "*"
    DOUBLE_STAR = "**"


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    literal: str = ""

    def __str__(self) -> str:
        return self.literal if self.kind is SegmentKind.LITERAL else self.kind.value


@dataclass(frozen=True, slots=True)
class Variable:
    """A field bound to path segments ``[start, end)``; ``end`` is None for a trailing ``**``."""

    field_path: tuple[str, ...]
    start: int
    end: int | None
    segments: tuple[Segment, ...]

    @property
    def multi_segment(self) -> bool:
        """Whether the value may span segments: then ``%2F`` stays encoded (HttpRule)."""
        return len(self.segments) > 1 or any(
            s.kind is SegmentKind.DOUBLE_STAR for s in self.segments
        )

    @property
    def name(self) -> str:
        return ".".join(self.field_path)


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None

    @property
    def shape(self) -> str:
        """The template with variables erased: two templates with one shape are ambiguous."""
        path = "/" + "/".join(str(s) for s in self.segments)
        return path + (f":{self.verb}" if self.verb else "")


def parse_template(source: str) -> Template:
    """Parse a path template.

    >>> t = parse_template("/v1/{name=shelves/*/books/*}:read")
    >>> [str(s) for s in t.segments], t.verb, t.variables[0].name
    (['v1', 'shelves', '*', 'books', '*'], 'read', 'name')
    """
    if not source.startswith("/"):
        raise TemplateError(f"{source!r}: a template starts with '/'")
    body, verb = _split_verb(source)
    segments: list[Segment] = []
    variables: list[Variable] = []
    for part in _split_top(body[1:], source):
        if part.startswith("{"):
            if not part.endswith("}"):
                raise TemplateError(f"{source!r}: unterminated variable {part!r}")
            field, _, inner = part[1:-1].partition("=")
            path = tuple(field.split("."))
            if not all(_IDENT.match(p) for p in path):
                raise TemplateError(f"{source!r}: bad field path {field!r}")
            if any(v.field_path == path for v in variables):
                raise TemplateError(f"{source!r}: field {field!r} bound twice")
            inner_segments = (
                [_segment(p, source) for p in inner.split("/")]
                if inner
                else [Segment(SegmentKind.STAR)]
            )
            start = len(segments)
            segments.extend(inner_segments)
            has_tail = inner_segments[-1].kind is SegmentKind.DOUBLE_STAR
            variables.append(
                Variable(path, start, None if has_tail else len(segments), tuple(inner_segments))
            )
        else:
            segments.append(_segment(part, source))
    for i, seg in enumerate(segments):
        if seg.kind is SegmentKind.DOUBLE_STAR and i != len(segments) - 1:
            # Only a trailing ** keeps matching unambiguous and linear-time.
            raise TemplateError(f"{source!r}: '**' is only allowed as the last segment")
    return Template(source, tuple(segments), tuple(variables), verb)


def _split_verb(source: str) -> tuple[str, str | None]:
    last = source.rsplit("/", 1)[-1]
    # A colon inside a variable's braces is not a verb separator.
    if ":" in last and last.rfind(":") > last.rfind("}"):
        body, verb = source.rsplit(":", 1)
        if not _LITERAL.match(verb):
            raise TemplateError(f"{source!r}: bad verb {verb!r}")
        return body, verb
    return source, None


def _split_top(body: str, source: str) -> list[str]:
    """Split on '/' outside braces."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in body:
        if ch == "{":
            if depth:
                raise TemplateError(f"{source!r}: nested variables are not allowed")
            depth = 1
        elif ch == "}":
            if not depth:
                raise TemplateError(f"{source!r}: unbalanced '}}'")
            depth = 0
        if ch == "/" and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise TemplateError(f"{source!r}: unbalanced '{{'")
    parts.append("".join(current))
    return parts


def _segment(text: str, source: str) -> Segment:
    if text == "*":
        return Segment(SegmentKind.STAR)
    if text == "**":
        return Segment(SegmentKind.DOUBLE_STAR)
    if not _LITERAL.match(text):
        raise TemplateError(f"{source!r}: bad segment {text!r}")
    return Segment(SegmentKind.LITERAL, text)
