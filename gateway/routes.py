"""The route table: a segment trie with specificity order, built once at start-up.

Matching walks the request path segment by segment, trying a literal child,
then ``*``, then ``**``, so a match costs O(path length) whatever the number
of routes, and precedence never depends on declaration order. Two routes with
the same shape, method and verb can never be told apart: :class:`RouteConflict`
is raised at start-up naming both RPCs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from gateway.templates import SegmentKind, Template

__all__ = ["Match", "RouteConflict", "Router"]


class Routable(Protocol):
    @property
    def http_method(self) -> str: ...

    @property
    def template(self) -> Template: ...

    @property
    def rpc(self) -> str: ...


R = TypeVar("R", bound=Routable)


class RouteConflict(ValueError):
    """Two rules match exactly the same requests."""


@dataclass(slots=True)
class _Node(Generic[R]):
    literals: dict[str, _Node[R]] = field(default_factory=dict)
    star: _Node[R] | None = None
    double_star: _Node[R] | None = None
    # verb ("" for none) → HTTP method → route
    routes: dict[str, dict[str, R]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match(Generic[R]):
    route: R
    segments: list[str]  # raw (still percent-encoded) path segments, verb removed


class Router(Generic[R]):
    def __init__(self, routes: Iterable[R] = ()) -> None:
        self._root: _Node[R] = _Node()
        self._count = 0
        for route in routes:
            self.add(route)

    def __len__(self) -> int:
        return self._count

    def add(self, route: R) -> None:
        node = self._root
        for seg in route.template.segments:
            if seg.kind is SegmentKind.LITERAL:
                node = node.literals.setdefault(seg.literal, _Node())
            elif seg.kind is SegmentKind.STAR:
                node.star = node.star or _Node()
                node = node.star
            else:
                node.double_star = node.double_star or _Node()
                node = node.double_star
        by_method = node.routes.setdefault(route.template.verb or "", {})
        existing = by_method.get(route.http_method)
        if existing is not None:
            raise RouteConflict(
                f"{route.http_method} {route.template.source} ({route.rpc}) is ambiguous with "
                f"{existing.http_method} {existing.template.source} ({existing.rpc})"
            )
        by_method[route.http_method] = route
        self._count += 1

    def match(self, method: str, raw_path: str) -> tuple[Match[R] | None, set[str]]:
        """The most specific route for ``method``; else ``(None, allowed methods)``.

        An empty allowed set means no route has this path (404); otherwise 405.
        """
        segments = raw_path[1:].split("/") if raw_path.startswith("/") else [raw_path]
        allowed: set[str] = set()
        last = segments[-1]
        colon = last.rfind(":")
        if colon > 0:
            # "name:verb": try the verb first, then the whole segment as a value.
            with_verb = [*segments[:-1], last[:colon]]
            found = self._find(method, with_verb, last[colon + 1 :], allowed)
            if found is not None:
                return found, allowed
        return self._find(method, segments, "", allowed), allowed

    def _find(
        self, method: str, segments: list[str], verb: str, allowed: set[str]
    ) -> Match[R] | None:
        for node in _walk(self._root, segments, 0):
            by_method = node.routes.get(verb)
            if by_method:
                route = by_method.get(method)
                if route is not None:
                    return Match(route, segments)
                allowed.update(by_method)
        return None

    def routes(self) -> Iterator[R]:
        stack = [self._root]
        while stack:
            node = stack.pop()
            for by_method in node.routes.values():
                yield from by_method.values()
            stack.extend(node.literals.values())
            stack.extend(n for n in (node.star, node.double_star) if n is not None)


def _walk(node: _Node[R], segments: list[str], i: int) -> Iterator[_Node[R]]:
    """Nodes whose shape matches ``segments[i:]``, most specific first."""
    while True:
        if i == len(segments):
            yield node
            if node.double_star is not None:
                yield node.double_star  # ** matches zero segments too
            return
        seg = segments[i]
        if node.star is None and node.double_star is None:
            # Fast path: only literals can continue, no backtracking needed.
            child = node.literals.get(seg)
            if child is None:
                return
            node, i = child, i + 1
            continue
        child = node.literals.get(seg)
        if child is not None:
            yield from _walk(child, segments, i + 1)
        if node.star is not None and seg:
            yield from _walk(node.star, segments, i + 1)
        if node.double_star is not None:
            yield node.double_star
        return
