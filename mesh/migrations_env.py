"""The body of every service's Alembic ``env.py``.

Each service keeps its own version table, so services may share one database
(the ``MESH_DATABASE_URL`` fallback) without their histories colliding.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run(metadata: MetaData) -> None:
    config = context.config
    service = config.attributes["service"]
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `python -m mesh.migrate`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=f"alembic_version_{service}",
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
