"""A throw-away PostgreSQL cluster that speaks TLS only, like RDS with ``rds.force_ssl``.

Made with the server's own initdb and pg_ctl in a temporary directory, on a
free loopback port, with a server certificate from a test CA that names
``localhost`` and ``127.0.0.1``. It also listens on 127.0.0.2, an address
the certificate does not name, so tests can show what host-name checking adds.
Connections without TLS are rejected by pg_hba.conf. As root the cluster runs
as the ``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesh.certs import Issued, issue, new_ca


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsPostgres:
    port: int
    ca: Issued
    ca_file: Path

    def url(self, host: str = "localhost", database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@{host}:{self.port}/{database}"


@contextmanager
def tls_postgres() -> Iterator[TlsPostgres]:
    bin_dir = _binaries()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required in CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    as_postgres: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="mesh-pgtls-"))
    data = root / "data"
    ca = new_ca("test PostgreSQL CA")
    server = issue(ca, ["localhost", "127.0.0.1"])
    ca_file = root / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    port = _free_port()
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        run = [*as_postgres, str(bin_dir / "initdb"), "-D", str(data)]
        subprocess.run(
            [*run, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (data / "server.crt").write_bytes(server.cert_pem)
        (data / "server.key").write_bytes(server.key_pem)
        (data / "server.key").chmod(0o600)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {port}\n"
                "listen_addresses = '127.0.0.1,127.0.0.2'\n"
                f"unix_socket_directories = '{data}'\n"
                "ssl = on\n"
                "fsync = off\n"
            )
        (data / "pg_hba.conf").write_text(
            "hostssl all all 127.0.0.0/8 trust\nhostnossl all all 127.0.0.0/8 reject\n"
        )
        if owner is not None:
            for path in (data / "server.crt", data / "server.key", data / "pg_hba.conf"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        # -w: pg_ctl itself waits until the server accepts connections.
        subprocess.run(
            [
                *as_postgres,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            yield TlsPostgres(port, ca, ca_file)
        finally:
            subprocess.run(
                [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
