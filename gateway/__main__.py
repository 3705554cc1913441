"""``python -m gateway``: serve the gateway with uvicorn (uvloop + httptools).

Settings come from ``MESH_GATEWAY_*`` (see :mod:`gateway.settings`); the
port defaults to the gateway entry of services.yaml, else 8080.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.drain import Drain, DrainOnSigterm
from gateway.http import GatewayHttpProtocol
from gateway.settings import Settings, SettingsError
from mesh.config import ConfigError, load_telemetry
from mesh.logs import configure_logging

__all__ = ["build", "main", "uvicorn_options"]

GATEWAY_SERVICE = "gateway"


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


def build() -> DrainOnSigterm:
    """App factory for uvicorn: each worker process builds its own app.

    The gateway itself comes from its one composition root,
    :func:`gateway.app.create_app` (backends through the mesh registry,
    ``MESH_REGISTRY``: the local registry file by default, Cloud Map on
    AWS). This adds only what belongs to the process: on SIGTERM it drains
    first (see :mod:`gateway.drain`), with the same :class:`Drain` the app reads.
    """
    current = settings()
    observe = load_telemetry(GATEWAY_SERVICE)
    configure_logging(GATEWAY_SERVICE, current.log_level, observe.replica)
    drain = Drain()
    app = create_app(settings=current, drain=drain)
    return DrainOnSigterm(app, drain, current.drain_seconds)


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
        # uvicorn's own lines go through the root logger: the mesh's JSON schema.
        "log_config": None,
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


def _stopped_cleanly(sig: int, frame: FrameType | None) -> None:
    """Where uvicorn's re-raised signal lands once it has shut down cleanly."""


def main() -> None:
    try:
        current = settings()
        observe = load_telemetry(GATEWAY_SERVICE)
    except (SettingsError, ConfigError) as exc:
        # Like the services: one line naming the variable, exit 2, no traceback.
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(GATEWAY_SERVICE, current.log_level, observe.replica)
    # uvicorn handles SIGTERM (graceful shutdown), then restores the handler it found and
    # raises the signal again; with the default handler the process would die of it (exit
    # -15) after a clean stop. ECS's SIGTERM is a normal stop: exit 0, like the services.
    signal.signal(signal.SIGTERM, _stopped_cleanly)
    signal.signal(signal.SIGINT, _stopped_cleanly)
    uvicorn.run("gateway.__main__:build", factory=True, **uvicorn_options(current))


if __name__ == "__main__":
    main()
