from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from gateway.routes import RouteConflict, Router
from gateway.templates import Template, parse_template


@dataclass(frozen=True)
class R:
    http_method: str
    template: Template
    rpc: str


def route(method: str, path: str, rpc: str = "") -> R:
    return R(method, parse_template(path), rpc or f"{method} {path}")


def test_literal_beats_star_beats_double_star_whatever_the_order() -> None:
    router = Router(
        [
            route("GET", "/v1/{path=**}", "deep"),
            route("GET", "/v1/{name=things/*}", "star"),
            route("GET", "/v1/things/special", "literal"),
        ]
    )
    assert router.match("GET", "/v1/things/special")[0].route.rpc == "literal"  # type: ignore[union-attr]
    assert router.match("GET", "/v1/things/other")[0].route.rpc == "star"  # type: ignore[union-attr]
    assert router.match("GET", "/v1/a/b/c")[0].route.rpc == "deep"  # type: ignore[union-attr]


def test_backtracks_when_the_literal_branch_dead_ends() -> None:
    router = Router([route("GET", "/v1/a/b"), route("GET", "/v1/{x}/c", "star")])
    assert router.match("GET", "/v1/a/c")[0].route.rpc == "star"  # type: ignore[union-attr]


def test_same_shape_same_method_is_reported_naming_both_rpcs() -> None:
    router = Router([route("GET", "/v1/{name=things/*}", "pkg.S.GetThing")])
    with pytest.raises(RouteConflict, match=r"pkg\.S\.Other.*pkg\.S\.GetThing"):
        router.add(route("GET", "/v1/things/{id}", "pkg.S.Other"))


def test_same_shape_other_method_or_verb_is_fine() -> None:
    Router(
        [
            route("GET", "/v1/{name=things/*}"),
            route("DELETE", "/v1/{name=things/*}"),
            route("GET", "/v1/{name=things/*}:watch"),
        ]
    )


def test_wrong_method_lists_allowed_methods() -> None:
    router = Router([route("POST", "/v1/echo"), route("PUT", "/v1/echo")])
    found, allowed = router.match("GET", "/v1/echo")
    assert found is None
    assert allowed == {"POST", "PUT"}


def test_unknown_path_has_no_allowed_methods() -> None:
    assert Router([route("GET", "/v1/echo")]).match("GET", "/v2/echo") == (None, set())


def test_verb_is_tried_before_treating_the_colon_as_data() -> None:
    router = Router(
        [
            route("POST", "/v1/{name=things/*}:cancel", "cancel"),
            route("GET", "/v1/{name=things/*}", "get"),
        ]
    )
    assert router.match("POST", "/v1/things/a:cancel")[0].route.rpc == "cancel"  # type: ignore[union-attr]
    assert router.match("GET", "/v1/things/a:cancel")[0].route.rpc == "get"  # type: ignore[union-attr]


def test_double_star_matches_zero_segments() -> None:
    router = Router([route("GET", "/v1/files/{path=**}")])
    assert router.match("GET", "/v1/files")[0] is not None


def test_star_does_not_match_an_empty_segment() -> None:
    router = Router([route("GET", "/v1/{name=things/*}")])
    assert router.match("GET", "/v1/things/")[0] is None


def _router_of(n: int) -> Router[R]:
    return Router(route("GET", f"/v1/r{i}/{{name=items/*}}/sub{i}", f"rpc{i}") for i in range(n))


def test_match_cost_does_not_grow_with_route_count() -> None:
    def cost(router: Router[R], n: int) -> float:
        path = f"/v1/r{n // 2}/items/x/sub{n // 2}"
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(2000):
                router.match("GET", path)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(_router_of(10), 10), cost(_router_of(1000), 1000)
    # A linear scan would be ~100x slower; allow generous noise on shared cores.
    assert large < small * 3
