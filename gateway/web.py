"""The storefront's static files, served by the gateway on the API's origin.

Locally the gateway serves the built single-page app (``web/dist``) at ``/``
so the browser talks to one origin, as it does through CloudFront on AWS.
Every file is read into memory once at start (the build is a few hundred
kilobytes), so a request is a dictionary lookup: no file system access, and no
path that could walk out of the folder, whatever its dots or escapes.

What it answers, for ``GET``/``HEAD`` of a path the API does not own:

| path | answer | Cache-Control |
|---|---|---|
| a file of the build under ``/assets/`` (hashed names) | the file | ``public, max-age=31536000, immutable`` |
| another file of the build (``/index.html``, ``/favicon.svg``) | the file | ``no-cache`` |
| ``/config.json`` | the sign-in settings, from the gateway's settings | ``no-store`` |
| a missing ``/assets/...`` or a name with a dot | 404 | ``no-store`` |
| anything else (``/orders/42``) | ``index.html``: the app routes it | ``no-cache`` |

The API's paths (the first segment of every route, ``/v1``) and the gateway's
own (``/healthz``, ``/readyz``, ``/openapi.json``, ``/docs``, ``/metrics``) are
never the web's, so a file cannot shadow them and API calls pay one prefix
test. HTML carries a content security policy: scripts, styles and fetches
from this origin only, plus the token endpoint the app signs in with.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gateway.asgi import IMMUTABLE, Send, accepts_gzip
from gateway.docs import origin

__all__ = ["IMMUTABLE", "RESERVED", "WebConfigError", "WebRoot", "web_config"]

# The gateway's own paths besides the API's routes (and /metrics, served on its own port).
RESERVED: Final = frozenset({"healthz", "readyz", "openapi.json", "docs", "metrics"})
CONFIG_PATH: Final = "/config.json"
MAX_TOTAL_BYTES: Final = 32 << 20
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
_COMMON = [(b"x-content-type-options", b"nosniff")]


class WebConfigError(ValueError):
    """The web root cannot be served; the message says why."""


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    gzipped: bytes | None
    content_type: bytes
    cache: bytes
    etag: bytes
    html: bool


def web_config(
    authorize_url: str, token_url: str, client_id: str, logout_url: str = "", scope_prefix: str = ""
) -> dict[str, Any]:
    """What ``/config.json`` says: how the app signs in (``auth`` is null without sign-in)."""
    auth: dict[str, Any] | None = None
    if authorize_url and token_url and client_id:
        auth = {
            "authorizeUrl": authorize_url,
            "tokenUrl": token_url,
            "clientId": client_id,
            "scopePrefix": scope_prefix,
        }
        if logout_url:
            auth["logoutUrl"] = logout_url
    return {"auth": auth}


class WebRoot:
    """The built app in memory; :meth:`owns` says which paths are its own."""

    def __init__(self, root: Path, api_segments: Iterable[str], config: Mapping[str, Any]) -> None:
        index = root / "index.html"
        if not index.is_file():
            raise WebConfigError(f"{root}: no index.html (build the app: npm run build in web/)")
        reserved = set(RESERVED) | set(api_segments)
        if reserved & {"*", "**"}:
            raise WebConfigError("a route starts with a variable: the API owns every path")
        self._api_prefixes = tuple(f"/{segment}/" for segment in sorted(reserved))
        self._reserved = frozenset(reserved)
        extra = ""
        token_url = (config.get("auth") or {}).get("tokenUrl", "")
        if token_url:
            extra = f" {origin(token_url)}" if origin(token_url) else ""
        self._csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'{extra}; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'"
        ).encode()
        self._files = _load(root)
        self._index = self._files["/index.html"]
        body = json.dumps(config, separators=(",", ":")).encode()
        self._files[CONFIG_PATH] = _File(
            body, None, b"application/json", b"no-store", _etag(body), html=False
        )

    def owns(self, path: str) -> bool:
        """Whether ``path`` is the web's: not an API route's, not the gateway's own."""
        if path.startswith(self._api_prefixes):
            return False
        head = path[1:].split("/", 1)[0].split(":", 1)[0]
        return head not in self._reserved

    async def handle(
        self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]], send: Send
    ) -> int:
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return 405
        path = path.split("?", 1)[0]
        found = self._files.get(path)
        if found is None:
            last = path.rsplit("/", 1)[-1]
            if path.startswith("/assets/") or "." in last:
                # A missing script must not come back as HTML the browser would run.
                await _plain(send, 404, b"not found\n", [])
                return 404
            found = self._index
        accept = b""
        match = b""
        for name, value in headers:
            if name == b"accept-encoding":
                accept = value
            elif name == b"if-none-match":
                match = value
        out = [
            (b"cache-control", found.cache),
            (b"etag", found.etag),
            (b"content-type", found.content_type),
            *_COMMON,
        ]
        if found.html:
            out += [
                (b"content-security-policy", self._csp),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
            ]
        if found.gzipped is not None:
            out.append((b"vary", b"accept-encoding"))
        if match and found.etag in [m.strip() for m in match.split(b",")]:
            await send({"type": "http.response.start", "status": 304, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return 304
        body = found.body
        if found.gzipped is not None and accepts_gzip(accept):
            body = found.gzipped
            out.append((b"content-encoding", b"gzip"))
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        return 200


def _load(root: Path) -> dict[str, _File]:
    files: dict[str, _File] = {}
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder) / name
            # Dot files (build stamps) and links (which could point anywhere) are not served.
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            body = path.read_bytes()
            total += len(body)
            if total > MAX_TOTAL_BYTES:
                raise WebConfigError(f"{root}: more than {MAX_TOTAL_BYTES >> 20} MB of files")
            url = "/" + path.relative_to(root).as_posix()
            content_type = _TYPES.get(path.suffix.lower()) or (
                mimetypes.guess_type(name)[0] or "application/octet-stream"
            )
            gzipped = None
            if content_type.startswith(_COMPRESSIBLE) and len(body) > 1024:
                gzipped = gzip.compress(body, 9, mtime=0)
            files[url] = _File(
                body,
                gzipped,
                content_type.encode(),
                IMMUTABLE if url.startswith("/assets/") else b"no-cache",
                _etag(body),
                html=content_type.startswith("text/html"),
            )
    return files


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'


async def _plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    out = [
        *headers,
        *_COMMON,
        (b"cache-control", b"no-store"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
