"""Apply database migrations without starting the server.

    python -m mesh.migrate all|SERVICE [...]

Uses the same settings as the service (``<SERVICE>_DATABASE_URL`` and friends).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path

from mesh.config import ConfigError, load_settings
from mesh.db import Database, redact
from mesh.dbsecret import password_source
from mesh.topology import Topology, TopologyError, load_topology


def migrations_for(topology: Topology, service: str) -> Path:
    spec = importlib.util.find_spec(topology[service].module)
    if spec is None or not spec.submodule_search_locations:
        raise TopologyError(f"module {topology[service].module} of {service!r} is not a package")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


async def migrate(service: str, topology: Topology) -> None:
    settings = load_settings(service, topology=topology)
    database = Database(
        settings.database_url,
        service,
        migrations_for(topology, service),
        password=password_source(settings),
        ssl_context=settings.db_tls.context() if settings.db_tls else None,
    )
    try:
        await database.start()
    finally:
        await database.stop()
    print(f"{service}: migrated {redact(settings.database_url)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.migrate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("services", nargs="+", help="'all' or service names")
    opts = parser.parse_args(argv)
    try:
        topology = load_topology()
        names = (
            [s.name for s in topology.start_order() if s.store == "sql"]
            if opts.services == ["all"]
            else opts.services
        )
        for name in names:
            if topology[name].store != "sql":
                parser.error(f"{name} has no SQL store (store: {topology[name].store})")
            asyncio.run(migrate(name, topology))
    except (ConfigError, TopologyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
