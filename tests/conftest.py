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
from webhook import webhook  # noqa: E402, F401  (the alert tests' HTTP endpoint, a fixture for every test file)

# The test files that take longest (real daemons and many crawls, waiting on schedules and time limits),
# longest first. They are handed to the xdist workers before the rest (`--no-loadscope-reorder` keeps
# this order), so the run does not end waiting on one of them started last. Only the order depends on it.
LONGEST_FILES_FIRST = (
    "scheduler/test_daemon.py",
    "faults/test_unwritable_store.py",
    "test_crawl_end_to_end.py",
    "faults/test_concurrent_sources.py",
    "faults/test_network_faults.py",
)
TESTS = Path(__file__).resolve().parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, this worker's own PostgreSQL database exists before any test needs it."""
    if POSTGRES_URL and XDIST_WORKER:
        ensure_postgres_database(POSTGRES_URL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of `LONGEST_FILES_FIRST` first, in that order; the rest as collected."""
    def rank(item: pytest.Item) -> int:
        relative = item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""
        return LONGEST_FILES_FIRST.index(relative) if relative in LONGEST_FILES_FIRST else len(LONGEST_FILES_FIRST)

    items.sort(key=rank)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a fresh SQLite file, or a reset PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kuroshio.db'}"
    reset_postgres_schema(POSTGRES_URL)
    return POSTGRES_URL
