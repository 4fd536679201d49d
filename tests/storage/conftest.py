"""Fixtures for the storage tests: a migrated database per test (`database_url` is in tests/conftest.py)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.records import ExtractedArticle

RunTogether = Callable[[int, Callable[[int], None]], None]


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


@pytest.fixture
def run_together() -> RunTogether:
    """`run_together(count, work)` runs `work(0)` … `work(count - 1)` in threads released at once, waits
    for all of them and fails the test if any raised or hung."""

    def run(count: int, work: Callable[[int], None]) -> None:
        barrier = threading.Barrier(count)
        failures: list[BaseException] = []

        def start(index: int) -> None:
            try:
                barrier.wait()
                work(index)
            except BaseException as error:  # collected and re-raised in the main thread
                failures.append(error)

        # Daemon threads, so that a writer stuck on a lock fails the test instead of hanging the run.
        threads = [threading.Thread(target=start, args=(index,), daemon=True) for index in range(count)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert failures == []
        assert not any(thread.is_alive() for thread in threads)

    return run
