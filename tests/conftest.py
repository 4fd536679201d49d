"""Shared fixtures: `database_url` runs a test on SQLite and, when configured, on PostgreSQL.

Set ``KUROSHIO_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://kuroshio@127.0.0.1/kuroshio_test``) to
run every database test against PostgreSQL too; its ``public`` schema is dropped and recreated before
each test, so point it at a throwaway database.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test helpers (tests/fixture_web.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from databases import (  # noqa: E402
    BACKENDS,
    POSTGRES_URL,
    XDIST_WORKER,
    ensure_postgres_database,
    reset_postgres_schema,
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, this worker's own PostgreSQL database exists before any test needs it."""
    if POSTGRES_URL and XDIST_WORKER:
        ensure_postgres_database(POSTGRES_URL)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a fresh SQLite file, or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kuroshio.db'}"
    reset_postgres_schema(POSTGRES_URL)
    return POSTGRES_URL
