"""python -m mesh.migrate: migrations without a server."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def migrate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh.migrate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_migrates_every_store_and_is_idempotent(tmp_path: Path) -> None:
    env = {"MESH_DATA_DIR": str(tmp_path)}
    for _ in range(2):
        result = migrate("all", env=env)
        assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "inventory.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = db.execute("SELECT version_num FROM alembic_version_inventory").fetchall()
    assert {"stock", "reservations", "reservation_lines"} <= tables
    assert version == [("0002",)]


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    unknown = migrate("nope", env={"MESH_DATA_DIR": str(tmp_path)})
    assert unknown.returncode == 2
    assert "unknown service 'nope'" in unknown.stderr
    bad_url = migrate("catalog", env={"CATALOG_DATABASE_URL": "nonsense"})
    assert bad_url.returncode == 2
    assert "CATALOG_DATABASE_URL" in bad_url.stderr
    nothing = migrate(env={})
    assert nothing.returncode == 2
