"""Opaque, signed page tokens (AIP-158).

A token carries the keyset cursor and a fingerprint of the query it belongs
to, signed with HMAC, so a tampered token or one reused with another filter is
an INVALID_ARGUMENT instead of a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from mesh.errors import FieldViolation, InvalidArgument

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PageTokens", "page_size"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_MAX_TOKEN = 1024


def page_size(requested: int) -> int:
    """AIP-158: 0 means the default, larger than the maximum is read as the maximum."""
    if requested < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            violations=[FieldViolation("page_size", "must be >= 0")],
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:16]

    def encode(self, cursor: Any, query: Any) -> str:
        body = json.dumps({"c": cursor, "q": query}, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def decode(
        self, token: str, query: Any, valid: Callable[[Any], bool] = lambda cursor: True
    ) -> Any:
        """The cursor of a token made by :meth:`encode` for the same query; None for ''.

        ``valid`` checks the cursor's shape; a token that fails it is refused like a forged one.
        """
        if not token:
            return None
        invalid = InvalidArgument(
            "page_token is invalid or belongs to another query",
            violations=[
                FieldViolation("page_token", "pass next_page_token unchanged, with the same filter")
            ],
        )
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise invalid
        body_text, sig_text = token.split(".")
        try:
            body, sig = _unb64(body_text), _unb64(sig_text)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(sig, self._sign(body)):
            raise invalid
        payload = json.loads(body)
        cursor = payload.get("c")
        if payload.get("q") != query or cursor is None or not valid(cursor):
            raise invalid
        return cursor
