from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.mesh import Shop, shop
from tests.support.postgres import create_database, drop_database

# In CI, property tests draw the same examples every run, so a red build is reproducible;
# locally they explore new ones each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    url = create_database()
    yield url
    if url is not None:
        drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest, pg_url: str | None) -> str:
    kind: str = request.param
    if kind == "postgres" and pg_url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (required when CI=true)")
    return kind


@pytest.fixture
async def mesh(db_kind: str, tmp_path: Path, pg_url: str | None) -> AsyncIterator[Shop]:
    async with shop(db_kind, tmp_path, pg_url) as running:
        yield running
