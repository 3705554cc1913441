"""MESH_DB_SSLMODE against a PostgreSQL that speaks TLS only: verify-full trusts the right CA only."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mesh.certs import new_ca
from mesh.config import DbTls, load_settings
from mesh.db import Database, create_engine
from mesh.service import migrations_dir
from services.catalog import app as catalog_app
from tests.support.pgtls import TlsPostgres, tls_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg() -> Iterator[TlsPostgres]:
    with tls_postgres() as cluster:
        yield cluster


async def encrypted(url: str, tls: DbTls) -> bool:
    """Connect with the mode's SSL context; True if the session is encrypted."""
    engine = create_engine(url, ssl_context=tls.context())
    try:
        async with engine.connect() as conn:
            result = await conn.scalar(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
            return bool(result)
    finally:
        await engine.dispose()


async def test_verify_full_connects_with_the_right_ca(pg: TlsPostgres) -> None:
    tls = DbTls("verify-full", pg.ca.cert_pem)
    assert await encrypted(pg.url("localhost"), tls)
    assert await encrypted(pg.url("127.0.0.1"), tls)


async def test_verify_full_refuses_a_server_from_another_ca(pg: TlsPostgres) -> None:
    tls = DbTls("verify-full", new_ca("someone else").cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await encrypted(pg.url(), tls)


async def test_verify_full_checks_the_host_name_and_verify_ca_does_not(pg: TlsPostgres) -> None:
    # 127.0.0.2 reaches the same server, but its certificate does not name that address.
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await encrypted(pg.url("127.0.0.2"), DbTls("verify-full", pg.ca.cert_pem))
    assert await encrypted(pg.url("127.0.0.2"), DbTls("verify-ca", pg.ca.cert_pem))


async def test_require_encrypts_without_checking_and_disable_is_turned_away(
    pg: TlsPostgres,
) -> None:
    assert await encrypted(pg.url(), DbTls("require"))
    with pytest.raises(DBAPIError, match=r"pg_hba\.conf rejects connection .* no encryption"):
        await encrypted(pg.url(), DbTls("disable"))


async def test_a_service_database_starts_over_verified_tls(pg: TlsPostgres) -> None:
    """The service's own path: settings by parts, then create the database and migrate over TLS."""
    settings = load_settings(
        "catalog",
        environ={
            "MESH_DB_HOST": "localhost",
            "MESH_DB_PORT": str(pg.port),
            "MESH_DB_USER": "postgres",
            "MESH_DB_NAME": "catalog_tls",
            "MESH_DB_SSLMODE": "verify-full",
            "MESH_DB_SSL_ROOT_CERT": str(pg.ca_file),
        },
    )
    assert settings.db_tls is not None
    database = Database(
        settings.database_url,
        "catalog",
        migrations_dir(catalog_app.__file__),
        ssl_context=settings.db_tls.context(),
    )
    await database.start()
    try:
        async with database.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM products")) == 0
            assert await conn.scalar(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
    finally:
        await database.stop()
