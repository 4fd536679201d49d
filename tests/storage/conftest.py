"""Fixtures for the storage tests: a migrated database per test, on SQLite and (when configured) PostgreSQL.

Set ``KUROSHIO_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://kuroshio@127.0.0.1/kuroshio_test``) to
run every database test against PostgreSQL too; its ``public`` schema is dropped and recreated before
each test, so point it at a throwaway database.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from crawler.article import ExtractedArticle
from storage.engine import create_engine_for, session_factory, upgrade_schema

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


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the newest schema."""
    engine = create_engine_for(database_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """The application's session factory for the test database."""
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session, closed after the test."""
    with sessions() as session:
        yield session


@pytest.fixture
def make_article() -> Callable[..., ExtractedArticle]:
    """Build distinct `ExtractedArticle`s; keyword arguments override any field.

    `canonical_url` defaults to `url`, as extraction does for a page without a canonical link.
    """
    numbers = itertools.count(1)

    def make(**fields: Any) -> ExtractedArticle:
        number = next(numbers)
        fields.setdefault("url", f"https://news.example/articles/{number}")
        fields.setdefault("canonical_url", fields["url"])
        fields.setdefault("source", "example-news")
        fields.setdefault("title", f"Article number {number}")
        fields.setdefault("text", f"The body of article number {number}, with nothing else in it.")
        return ExtractedArticle(**fields)

    return make
