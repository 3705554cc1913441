"""``/docs``: Swagger UI on the gateway's own origin, from the swagger-ui-bundle-v2 wheel.

No CDN and no npm step: the PyPI package ships Swagger UI's distribution
files (5.x, which reads OpenAPI 3.1), and the gateway serves the few it
needs under ``/docs/<name>``:

- the page, ``/docs``: no inline script or style, so its Content Security
  Policy can be strict (scripts and styles from this origin only, requests
  to this origin only, no framing); revalidated on every load;
- the bundle, its stylesheet and our initializer (:data:`INITIALIZER`), with
  a content hash in their names, so they are cached for a year as immutable
  (gzip when the client takes it);
- ``oauth2-redirect.html`` and its script under their fixed names: an OAuth2
  client registers that URL.

The initializer turns off the online validator (it would call out), does not
keep a pasted token across page loads, and uses PKCE for the OAuth2 flow
when the document has one. The bearer scheme of the document gives the
"Authorize" button.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from dataclasses import dataclass
from html import escape
from importlib.abc import Traversable
from urllib.parse import urlsplit

from gateway.asgi import IMMUTABLE

__all__ = ["Asset", "DocsAssets", "docs_assets", "docs_page", "page_headers"]

# Our Swagger UI initializer: a file of its own, since the page allows no inline script.
INITIALIZER = b"""\
"use strict";
window.addEventListener("load", function () {
  var here = window.location.href;
  var ui = SwaggerUIBundle({
    url: new URL("openapi.json", here).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: false,
    displayOperationId: true,
    showExtensions: true,
    oauth2RedirectUrl: new URL("docs/oauth2-redirect.html", here).href
  });
  ui.initOAuth({usePkceWithAuthorizationCodeGrant: true});
  window.ui = ui;
});
"""
_STYLE = b"body{margin:0;background:#fafafa}\n"
# A year: the names change with the content.
REVALIDATE = b"no-cache"
_GZIP_FROM = 1024
_SOURCE_MAP = re.compile(rb"\n?//# sourceMappingURL=\S+\s*\Z|\n?/\*# sourceMappingURL=\S+ \*/\s*\Z")
_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".png": b"image/png",
}


class Asset:
    """One file of the docs, with its headers; gzipped on first use."""

    __slots__ = ("_gzipped", "body", "cache_control", "content_type")

    def __init__(self, body: bytes, content_type: bytes, cache_control: bytes) -> None:
        self.body = body
        self.content_type = content_type
        self.cache_control = cache_control
        self._gzipped: bytes | None = None

    @property
    def compressible(self) -> bool:
        """Text large enough for gzip to pay off."""
        return self.content_type != b"image/png" and len(self.body) >= _GZIP_FROM

    def gzipped(self) -> bytes | None:
        """The gzipped body once :meth:`compress` has made it, else None."""
        return self._gzipped

    def compress(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass(frozen=True)
class DocsAssets:
    by_name: dict[str, Asset]
    bundle: str  # the hashed names the page links to
    stylesheet: str
    style: str
    initializer: str
    icon: str
    version: str


def _dist() -> tuple[Traversable, str]:
    from swagger_ui_bundle import swagger_ui_path

    directory: Traversable = swagger_ui_path
    version = directory.name.removeprefix("swagger-ui-")
    return directory, version


@functools.cache
def docs_assets() -> DocsAssets:
    """Swagger UI's files, read once per process (they are the same for every app)."""
    dist, version = _dist()
    by_name: dict[str, Asset] = {}

    def hashed(stem: str, suffix: str, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()[:16]
        name = f"{stem}.{digest}{suffix}"
        by_name[name] = Asset(body, _TYPES[suffix], IMMUTABLE)
        return name

    def read(name: str) -> bytes:
        # The source maps are not served: the comment would only make browsers ask.
        return _SOURCE_MAP.sub(b"\n", (dist / name).read_bytes())

    assets = DocsAssets(
        by_name=by_name,
        bundle=hashed("swagger-ui-bundle", ".js", read("swagger-ui-bundle.js")),
        stylesheet=hashed("swagger-ui", ".css", read("swagger-ui.css")),
        style=hashed("docs", ".css", _STYLE),
        initializer=hashed("docs", ".js", INITIALIZER),
        icon=hashed("favicon-32x32", ".png", (dist / "favicon-32x32.png").read_bytes()),
        version=version,
    )
    for fixed in ("oauth2-redirect.html", "oauth2-redirect.js"):
        suffix = fixed[fixed.rindex(".") :]
        by_name[fixed] = Asset(read(fixed), _TYPES[suffix], REVALIDATE)
    return assets


def docs_page(title: str, assets: DocsAssets) -> bytes:
    """The HTML of ``/docs``: links to same-origin assets only, relative to the page."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="docs/{assets.stylesheet}">'
        f'<link rel="stylesheet" href="docs/{assets.style}">'
        f'<link rel="icon" type="image/png" href="docs/{assets.icon}">'
        "</head><body>"
        "<noscript><p>This reference needs JavaScript. The API description itself is "
        '<a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p></noscript>'
        '<div id="swagger-ui"></div>'
        f'<script src="docs/{assets.bundle}"></script>'
        f'<script src="docs/{assets.initializer}"></script>'
        "</body></html>\n"
    ).encode()


def page_headers(connect: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """Security headers of the docs page; ``connect``: other origins it may call
    (the OAuth2 token endpoint)."""
    origins = " ".join(sorted({origin(url) for url in connect if origin(url)}))
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        # Swagger UI's stylesheet draws its icons as data: SVGs.
        "img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'{' ' + origins if origins else ''}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cache-control", REVALIDATE),
    ]


def origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"
