"""``python -m gateway.openapi_dump [FILE]``: the gateway's OpenAPI document, no server needed.

The storefront (``web/``) generates its API types and client from this at
build time, so the build needs no running mesh. The document is the one the
gateway serves at ``/openapi.json``: it is taken from an app built by
:func:`gateway.app.create_app` with channels that are never dialled.

    python -m gateway.openapi_dump web/src/api/openapi.json
    python -m gateway.openapi_dump            # to stdout
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.channels import LocalChannelProvider
from gateway.settings import Settings

__all__ = ["document", "main"]


def document() -> dict[str, Any]:
    """The OpenAPI document of services.yaml's services, as the gateway builds it."""
    # Channels are made lazily on first use, so an empty provider dials nothing.
    app = create_app(LocalChannelProvider({}), settings=Settings(access_log=False))
    return app.openapi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.openapi_dump", description="Write the gateway's OpenAPI document."
    )
    parser.add_argument("file", nargs="?", type=Path, help="where to write it (default: stdout)")
    opts = parser.parse_args(argv)
    text = json.dumps(document(), indent=2, sort_keys=True) + "\n"
    if opts.file is None:
        sys.stdout.write(text)
        return 0
    try:
        opts.file.parent.mkdir(parents=True, exist_ok=True)
        # Written only when it changed, so file watchers and build stamps stay quiet.
        if not opts.file.exists() or opts.file.read_text(encoding="utf-8") != text:
            opts.file.write_text(text, encoding="utf-8")
    except OSError as exc:
        parser.error(f"{opts.file}: {exc.strerror or exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
