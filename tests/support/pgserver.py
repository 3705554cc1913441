"""A PostgreSQL server the test owns (initdb + pg_ctl in a temporary directory),
so it may stop, restart and start it for real. As root, the server runs as the
``postgres`` user (initdb refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pgtls import _binaries, _free_port

__all__ = ["OwnedPostgres", "owned_postgres"]

_INITDB = ("-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")


@dataclass
class OwnedPostgres:
    port: int
    bin_dir: Path
    data: Path
    log: Path
    as_postgres: list[str]

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        # -w: pg_ctl waits until the server is down / accepts connections.
        subprocess.run(
            [*self.as_postgres, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def start(self) -> None:
        self._ctl("-l", str(self.log), "start")

    def restart(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-l", str(self.log), "restart")


@contextmanager
def owned_postgres() -> Iterator[OwnedPostgres]:
    bin_dir = _binaries()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required in CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    as_postgres: list[str] = []
    owner = None
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="mesh-pgown-"))
    data = root / "data"
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), *_INITDB],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = _free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{data}'\nfsync = off\n"
            )
        server = OwnedPostgres(port, bin_dir, data, root / "log", as_postgres)
        server.start()
        try:
            yield server
        finally:
            subprocess.run(
                [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
