"""Test databases: SQLite files, and PostgreSQL when `KUROSHIO_TEST_POSTGRES_URL` names a server."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine

POSTGRES_URL_ENV = "KUROSHIO_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_URL_ENV, "")

# A skip mark (rather than pytest.skip() in a fixture) lets `-ra` fold the skips into one line per file.
POSTGRES_MARKS = [pytest.mark.postgres]
if not POSTGRES_URL:
    POSTGRES_MARKS.append(pytest.mark.skip(reason=f"{POSTGRES_URL_ENV} is not set: PostgreSQL variant not run"))

BACKENDS = ["sqlite", pytest.param("postgres", marks=POSTGRES_MARKS)]


def reset_postgres_schema(url: str) -> None:
    """Drop and recreate the `public` schema: an empty database for the next test."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
