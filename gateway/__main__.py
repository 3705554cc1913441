"""``python -m gateway``: serve the gateway with uvicorn (uvloop + httptools).

Settings come from ``MESH_GATEWAY_*`` (see :mod:`gateway.settings`); the
port defaults to the gateway entry of services.yaml, else 8080.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import uvicorn

from gateway.discovery import mesh_app
from gateway.drain import DrainOnSigterm
from gateway.http import GatewayHttpProtocol
from gateway.settings import Settings, SettingsError

__all__ = ["build", "main", "uvicorn_options"]

GATEWAY_SERVICE = "gateway"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log shippers need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        entry["message"] = message
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def default_port() -> int:
    try:
        from mesh.topology import load_topology

        services = load_topology().services
    except Exception:
        return 8080
    spec = services.get(GATEWAY_SERVICE)
    return spec.port if spec is not None else 8080


def settings() -> Settings:
    return Settings.from_env(default_port=default_port())


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def build() -> DrainOnSigterm:
    """App factory for uvicorn: each worker process builds its own app.

    Backends are found through the mesh registry (``MESH_REGISTRY``: the local
    registry file by default, Cloud Map on AWS). On SIGTERM it drains first
    (see :mod:`gateway.drain`).
    """
    current = settings()
    configure_logging(current.log_level)
    app = mesh_app(current)
    return DrainOnSigterm(app, app.app, current.drain_seconds)


def uvicorn_options(current: Settings) -> dict[str, Any]:
    """How uvicorn runs the gateway; ``scripts/bench gateway`` runs it the same way."""
    return {
        "host": current.host,
        "port": current.port,
        "workers": current.workers,
        "loop": "uvloop",
        "http": GatewayHttpProtocol,  # httptools, one write per response
        "lifespan": "on",
        "access_log": False,  # ours is structured; uvicorn's would duplicate it
        # Nothing reads the client address or scheme, so X-Forwarded-* rewriting
        # would be a layer per request for nothing; and no server banner.
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": int(current.grace_seconds),
        # Longer than a proxy in front keeps an idle connection, so it never
        # sends on one the gateway is closing (uvicorn's default is 5 s).
        "timeout_keep_alive": current.keep_alive_seconds,
        "log_level": current.log_level,
    }


def main() -> None:
    try:
        current = settings()
    except SettingsError as exc:
        # Like the services: one line naming the variable, exit 2, no traceback.
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run("gateway.__main__:build", factory=True, **uvicorn_options(current))


if __name__ == "__main__":
    main()
