"""A build directory (web/dist) as the objects of the site: key, bytes, type and caching.

The contract with the app's build: ``index.html`` at the root, hashed assets
under ``assets/`` (their names change whenever their content does), anything
else (favicon, robots.txt) at the root under a fixed name. So:

- ``assets/*`` may be cached for a year and never revalidated (``immutable``);
- everything else is ``no-cache``: browsers and CloudFront revalidate it, so a
  deploy shows at once (``index.html`` names the new assets).

Nothing leaves the directory: a symbolic link that points outside it, a
directory link, a device or a pipe stops the deploy, and so does a name that
would not make a plain URL path.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from deploy.web.errors import DeployError

__all__ = [
    "ASSETS_PREFIX",
    "CONFIG_KEY",
    "IMMUTABLE",
    "INDEX_KEY",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "NO_CACHE",
    "SiteFile",
    "cache_control_for",
    "content_type_for",
    "read_site",
]

INDEX_KEY = "index.html"
CONFIG_KEY = "config.json"
ASSETS_PREFIX = "assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

# A storefront is a few hundred kilobytes; these only stop a wrong directory
# (a home folder, node_modules) from being pushed to the world.
MAX_FILES = 2000
MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024

# Path segments that are plain URL paths: no space, %, #, ?, backslash or
# non-ASCII that a browser, CloudFront and S3 could each spell differently.
_SEGMENT = re.compile(r"[A-Za-z0-9_~@+=,;!$&'()-][A-Za-z0-9._~@+=,;!$&'()-]*")

# Fixed here rather than taken from the machine's mime.types, which differs
# between machines; charset on text so that nothing sniffs it.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
}
_DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class SiteFile:
    """One object of the site."""

    key: str
    body: bytes
    content_type: str
    cache_control: str

    @property
    def md5(self) -> str:
        """What S3 reports as the ETag of a single-part upload without KMS."""
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


def content_type_for(key: str) -> str:
    return _TYPES.get(Path(key).suffix.lower(), _DEFAULT_TYPE)


def cache_control_for(key: str) -> str:
    return IMMUTABLE if key.startswith(ASSETS_PREFIX) else NO_CACHE


def read_site(dist: Path) -> list[SiteFile]:
    """Every file under ``dist`` as a :class:`SiteFile`, sorted by key.

    Raises :class:`DeployError` for a missing directory, a missing
    ``index.html``, a link leading outside, a special file, an unusable name,
    or more files or bytes than a site should have.
    """
    if not dist.exists():
        raise DeployError(f"{dist}: no such directory (build the app, or pass --dist)")
    if not dist.is_dir():
        raise DeployError(f"{dist}: not a directory")
    root = dist.resolve()
    index = root / INDEX_KEY
    if not index.is_file():
        raise DeployError(f"{dist}: no {INDEX_KEY} at its root; is this the app's build?")

    found: list[tuple[str, Path]] = []
    total = 0
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                raise DeployError(f"{_rel(here / name, root)}: a linked directory; copy it in")
        for name in sorted(filenames):
            path = here / name
            key = _key(path, root)
            size = _size(path, root, key)
            total += size
            found.append((key, path))
            if len(found) > MAX_FILES:
                raise DeployError(f"{dist}: more than {MAX_FILES} files; is this the app's build?")
            if total > MAX_TOTAL_BYTES:
                raise DeployError(f"{dist}: more than {MAX_TOTAL_BYTES} bytes in all")
    return [
        SiteFile(key, path.read_bytes(), content_type_for(key), cache_control_for(key))
        for key, path in sorted(found)
    ]


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _key(path: Path, root: Path) -> str:
    key = _rel(path, root)
    if len(key.encode()) > 1024 or not all(_SEGMENT.fullmatch(s) for s in key.split("/")):
        raise DeployError(
            f"{key!r}: not a plain URL path (letters, digits and _ ~ @ + = , ; ! $ & ' ( ) - ., "
            "no segment starting with a dot, at most 1024 bytes)"
        )
    return key


def _size(path: Path, root: Path, key: str) -> int:
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root):
            raise DeployError(f"{key}: a link to {target}, outside the build directory")
    try:
        info = path.stat()
    except OSError as exc:  # a dangling link, or a file gone meanwhile
        raise DeployError(f"{key}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise DeployError(f"{key}: not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise DeployError(f"{key}: {info.st_size} bytes, more than {MAX_FILE_BYTES}")
    return info.st_size
