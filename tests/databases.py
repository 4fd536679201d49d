"""Test databases: SQLite files, and PostgreSQL when `KUROSHIO_TEST_POSTGRES_URL` names a server.

Under pytest-xdist each worker has a database of its own, named after the given one and the worker
(`kuroshio_test_gw0`, ...) and created on the same server when missing: the tests drop and recreate
the `public` schema before each test, which two workers must not do to each other.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import NullPool, create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "KUROSHIO_TEST_POSTGRES_URL"
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... under pytest-xdist, else unset


def worker_database_url(url: str, worker: str) -> str:
    """`url` with its database name suffixed by the xdist `worker` (unchanged outside xdist)."""
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


POSTGRES_URL = worker_database_url(os.environ.get(POSTGRES_URL_ENV, ""), XDIST_WORKER)

# A skip mark (rather than pytest.skip() in a fixture) lets `-ra` fold the skips into one line per file.
POSTGRES_MARKS = [pytest.mark.postgres]
if not POSTGRES_URL:
    POSTGRES_MARKS.append(pytest.mark.skip(reason=f"{POSTGRES_URL_ENV} is not set: PostgreSQL variant not run"))

BACKENDS = ["sqlite", pytest.param("postgres", marks=POSTGRES_MARKS)]


def ensure_postgres_database(url: str) -> None:
    """Create the database of `url` if the server lacks it (a worker's own database), through the
    database the configured URL names; a database a killed run left read-only is made writable again."""
    name = make_url(url).database
    engine = create_engine(os.environ[POSTGRES_URL_ENV], isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            exists = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    finally:
        engine.dispose()


def reset_postgres_schema(url: str) -> None:
    """Drop and recreate the `public` schema: an empty database for the next test."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
