"""MESH_DB_PASSWORD_SECRET: new connections take the password Secrets Manager holds now.

Real parts only: moto's Secrets Manager on loopback (real boto3 calls), the
test PostgreSQL behind :class:`~tests.support.pgauth.PasswordFront` (which
checks passwords the way RDS does and records what it was offered), real
SQLAlchemy engines. Time is a manual clock handed to the cache, so TTLs are
exact and no test sleeps for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mesh.config import load_settings
from mesh.db import Database, create_engine
from mesh.dbsecret import SecretPassword, password_source
from services.catalog import app as catalog_app
from tests.integration.discovery.support import REGION, aws_test_env, free_port
from tests.support.moto import moto_server
from tests.support.pgauth import PasswordFront
from tests.support.postgres import ADMIN_URL, drop_database

pytestmark = pytest.mark.postgres

BOOT = "boot-password"  # what ECS injected at task start (MESH_DB_PASSWORD)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server mode on 127.0.0.1, a free port; real HTTP, real boto3."""
    with moto_server() as url:
        yield url


class Secret:
    """An RDS-style secret in moto: {"username": ..., "password": ...}."""

    def __init__(self, endpoint: str, password: str) -> None:
        self._client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        name = f"rds!db-{uuid.uuid4().hex[:12]}"
        self.arn = self._client.create_secret(Name=name, SecretString=self._body(password))["ARN"]

    @staticmethod
    def _body(password: str) -> str:
        return json.dumps({"username": "postgres", "password": password})

    def rotate(self, password: str) -> None:
        self._client.put_secret_value(SecretId=self.arn, SecretString=self._body(password))


@pytest.fixture
def pg(pg_url: str | None) -> str:
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    return pg_url


@pytest.fixture
async def front(pg: str) -> AsyncIterator[PasswordFront]:
    upstream = make_url(pg)
    async with PasswordFront((upstream.host or "127.0.0.1", upstream.port or 5432), {"s1"}) as f:
        yield f


def via_front(pg: str, front: PasswordFront) -> str:
    url = make_url(pg).set(host="127.0.0.1", port=front.port, password=BOOT)
    return url.render_as_string(hide_password=False)


async def connect_once(url: str, source: SecretPassword) -> None:
    """One new connection (a fresh engine, so nothing comes from a pool)."""
    engine = create_engine(url, source)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_new_connections_take_the_secret_and_the_ttl_limits_fetches(
    moto_url: str, pg: str, front: PasswordFront
) -> None:
    secret = Secret(moto_url, "s1")
    clock = Clock()
    source = SecretPassword(secret.arn, fallback=BOOT, ttl=60, endpoint_url=moto_url, clock=clock)
    engine = create_engine(via_front(pg, front), source)
    try:
        # Three connections at once: three log-ins, one GetSecretValue.
        async with engine.connect() as a, engine.connect() as b, engine.connect() as c:
            for conn in (a, b, c):
                assert await conn.scalar(text("SELECT 1")) == 1
        assert front.offered == ["s1", "s1", "s1"]
        assert source.fetches == 1
        # Pooled connections are reused: no new log-in, no fetch.
        async with engine.connect() as conn:
            await conn.scalar(text("SELECT 1"))
        assert len(front.offered) == 3
    finally:
        await engine.dispose()
    clock.now += 59
    await connect_once(via_front(pg, front), source)
    assert source.fetches == 1
    clock.now += 1
    await connect_once(via_front(pg, front), source)
    assert (source.fetches, source.failures) == (2, 0)
    assert front.offered == ["s1"] * 5


async def test_a_rotated_secret_is_used_after_the_ttl(
    moto_url: str, pg: str, front: PasswordFront
) -> None:
    secret = Secret(moto_url, "s1")
    clock = Clock()
    source = SecretPassword(secret.arn, fallback=BOOT, ttl=60, endpoint_url=moto_url, clock=clock)
    url = via_front(pg, front)
    await connect_once(url, source)
    # Both passwords work for a while (as with a rotation's pending version).
    front.passwords = {"s1", "s2"}
    secret.rotate("s2")
    await connect_once(url, source)  # within the TTL: the cached value
    clock.now += 60
    await connect_once(url, source)
    assert front.offered == ["s1", "s1", "s2"]
    assert source.fetches == 2


async def test_a_refused_password_refreshes_the_secret_and_retries_once(
    moto_url: str, pg: str, front: PasswordFront, caplog: pytest.LogCaptureFixture
) -> None:
    secret = Secret(moto_url, "s1")
    source = SecretPassword(secret.arn, fallback=BOOT, ttl=3600, endpoint_url=moto_url)
    url = via_front(pg, front)
    await connect_once(url, source)
    # RDS rotated: the old password is refused at once, long before the TTL ends.
    secret.rotate("s2")
    front.passwords = {"s2"}
    with caplog.at_level(logging.WARNING, logger="mesh.db"):
        await connect_once(url, source)
    assert front.offered == ["s1", "s1", "s2"]
    assert front.refused == 1
    assert source.fetches == 2
    assert "retrying with the refreshed secret" in caplog.text


async def test_a_refused_password_with_no_newer_secret_fails_without_looping(
    moto_url: str, pg: str, front: PasswordFront
) -> None:
    secret = Secret(moto_url, "s1")
    source = SecretPassword(secret.arn, fallback=BOOT, ttl=3600, endpoint_url=moto_url)
    front.passwords = {"something else"}
    with pytest.raises(DBAPIError) as failure:
        await connect_once(via_front(pg, front), source)
    assert "28P01" in str(failure.value.orig.sqlstate)  # type: ignore[union-attr]
    assert front.offered == ["s1"]
    assert source.fetches == 2  # the refresh happened and found nothing newer


async def test_secrets_manager_unreachable_falls_back_to_the_start_up_password(
    pg: str, front: PasswordFront, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    front.passwords = {BOOT}
    source = SecretPassword(
        "rds!db-gone", fallback=BOOT, ttl=60, endpoint_url=closed, region=REGION
    )
    with caplog.at_level(logging.WARNING, logger="mesh.db"):
        await connect_once(via_front(pg, front), source)
    assert front.offered == [BOOT]
    assert (source.fetches, source.failures) == (0, 1)
    assert "using the start-up value" in caplog.text


async def test_secrets_manager_down_keeps_the_last_good_password(
    pg: str, front: PasswordFront, caplog: pytest.LogCaptureFixture
) -> None:
    # A moto of its own, so stopping it leaves the other tests' alone.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in aws_test_env().items():
            mp.setenv(key, value)
        secret = Secret(endpoint, "s1")
        clock = Clock()
        source = SecretPassword(
            secret.arn, fallback=BOOT, ttl=60, endpoint_url=endpoint, clock=clock
        )
        url = via_front(pg, front)
        await connect_once(url, source)
        server.stop()
        clock.now += 60
        with caplog.at_level(logging.WARNING, logger="mesh.db"):
            await connect_once(url, source)
        # The failure backs off: the next connection does not wait on a dead endpoint again.
        await connect_once(url, source)
    assert front.offered == ["s1", "s1", "s1"]
    assert (source.fetches, source.failures) == (1, 1)
    assert "using the last good value" in caplog.text


async def test_database_lifecycle_from_settings(
    moto_url: str, pg: str, front: PasswordFront
) -> None:
    """What a task does at start: settings from ECS-style variables, create the database, migrate."""
    secret = Secret(moto_url, "s1")
    name = f"mesh_test_{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        "catalog",
        environ={
            "MESH_DB_HOST": "127.0.0.1",
            "MESH_DB_PORT": str(front.port),
            "MESH_DB_NAME": name,
            "MESH_DB_USER": "postgres",
            "MESH_DB_PASSWORD": BOOT,
            "MESH_DB_PASSWORD_SECRET": secret.arn,
            "MESH_SECRETS_ENDPOINT": moto_url,
            "AWS_REGION": REGION,
        },
    )
    source = password_source(settings)
    assert source is not None
    migrations = Path(catalog_app.__file__).parent / "migrations"
    database = Database(settings.database_url, "catalog", migrations, password=source)
    try:
        await database.start()  # CREATE DATABASE through the front, then the migrations
        async with database.engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version_catalog"))
        assert version == "0001"
    finally:
        await database.stop()
        source.close()
        await asyncio.to_thread(drop_database, ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    assert front.offered and set(front.offered) == {"s1"}
    assert BOOT not in front.offered
    assert source.fetches == 1
