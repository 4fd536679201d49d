"""Shared fixtures: `database_url` runs a test on SQLite and, when configured, on PostgreSQL.

Set ``KUROSHIO_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://kuroshio@127.0.0.1/kuroshio_test``) to
run every database test against PostgreSQL too; its ``public`` schema is dropped and recreated before
each test, so point it at a throwaway database.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

# Test helpers (tests/fixture_web.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

POSTGRES_URL_ENV = "KUROSHIO_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_URL_ENV, "")

# A skip mark (rather than pytest.skip() in the fixture) lets `-ra` fold the skips into one line per file.
_POSTGRES_MARKS = [pytest.mark.postgres]
if not POSTGRES_URL:
    _POSTGRES_MARKS.append(pytest.mark.skip(reason=f"{POSTGRES_URL_ENV} is not set: PostgreSQL variant not run"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=_POSTGRES_MARKS)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a fresh SQLite file, or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kuroshio.db'}"
    _reset_postgres_schema(POSTGRES_URL)
    return POSTGRES_URL


def _reset_postgres_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
