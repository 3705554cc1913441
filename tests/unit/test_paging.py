from __future__ import annotations

import pytest

from mesh.errors import InvalidArgument
from mesh.paging import MAX_PAGE_SIZE, PageTokens, page_size


def test_round_trip_and_binding() -> None:
    tokens = PageTokens(b"k")
    token = tokens.encode("sku-9", {"active": True})
    assert tokens.decode(token, {"active": True}) == "sku-9"
    assert tokens.decode("", {"active": True}) is None
    with pytest.raises(InvalidArgument):
        tokens.decode(token, {"active": False})
    with pytest.raises(InvalidArgument):
        PageTokens(b"other").decode(token, {"active": True})


@pytest.mark.parametrize("bad", ["x", "a.b.c", "!!!.???", "." * 5000, "e30.", "\u2603.\u2603"])
def test_garbage_is_invalid_argument(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        PageTokens(b"k").decode(bad, None)


def test_page_size_rules() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10**9) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_size(-1)
