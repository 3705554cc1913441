"""The composition root shared by every service's ``__main__``."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from mesh.config import ConfigError, Settings, load_settings
from mesh.db import Database
from mesh.logs import configure_logging
from mesh.server import MeshServer, ServiceUnit, run_service
from mesh.topology import TopologyError

__all__ = ["build_server", "main", "migrations_dir"]

log = logging.getLogger("mesh.service")


def migrations_dir(package_file: str) -> Path:
    """A service keeps its Alembic scripts in ``migrations/`` beside its package."""
    return Path(package_file).resolve().parent / "migrations"


def build_server(settings: Settings, unit: ServiceUnit) -> MeshServer:
    return MeshServer(
        unit,
        host=settings.host,
        port=settings.port,
        shutdown_grace=settings.shutdown_grace,
        max_message_bytes=settings.max_message_bytes,
        access_log=settings.access_log,
    )


def main(
    service: str, build_unit: Callable[[Settings, Database], ServiceUnit], migrations: Path
) -> None:
    """Entry point of ``python -m services.<name>``: settings, logging, serve, exit code."""
    try:
        settings = load_settings(service)
    except (ConfigError, TopologyError) as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(service, settings.log_level)
    database = Database(settings.database_url, service, migrations)
    server = build_server(settings, build_unit(settings, database))
    try:
        code = asyncio.run(run_service(server))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        code = 1
    sys.exit(code)
