"""Listing articles since a date reads them through `ix_articles_effective_date`, not the whole table.

The index is on ``coalesce(published_at, first_seen_at)``; a planner uses an expression index only for
the very same expression, so these tests explain the statements `kuroshio.storage.articles.list_articles` really
sends (captured on the way to the driver) rather than a copy of them, and fail when either side drifts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, insert, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.storage.articles import list_articles
from kuroshio.storage.engine import MIGRATIONS_DIR
from kuroshio.storage.models import Article, ArticleTopic, Base, Source

INDEX = "ix_articles_effective_date"
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
WEEK_AGO = NOW - timedelta(days=7)
ARTICLES = 2_000  # over a year: a week's window is ~2% of them, as in a real archive

LISTINGS: dict[str, Callable[[Session], list[Article]]] = {
    "since, limit": lambda session: list_articles(session, since=WEEK_AGO, limit=50),
    "since, unmatched too": lambda session: list_articles(session, since=WEEK_AGO, include_unmatched=True, limit=50),
    "topic since": lambda session: list_articles(session, topic="taiwan-japan", since=WEEK_AGO),
}


@pytest.fixture
def archive(engine: Engine, sessions: sessionmaker[Session]) -> Engine:
    """A migrated database holding a year of articles, one in five relevant; 1 in 10 has no publication
    time (so the coalesce falls back to first-seen), and statistics are fresh on PostgreSQL."""
    rows = []
    for number in range(1, ARTICLES + 1):
        first_seen = NOW - timedelta(minutes=number * 263)  # 2,000 × 263 min ≈ 365 days
        rows.append({
            "id": number, "source_id": 1, "url": f"https://news.example/{number}",
            "canonical_url": f"https://news.example/{number}", "title": f"Article {number}", "authors": [],
            "published_at": None if number % 10 == 0 else first_seen - timedelta(minutes=30),
            "text": "Body.", "content_sha256": f"{number:064x}", "first_seen_at": first_seen,
        })
    with sessions() as session, session.begin():
        session.execute(insert(Source), [{"id": 1, "name": "example-news"}])
        session.execute(insert(Article), rows)
        session.execute(insert(ArticleTopic), [{"article_id": number, "topic": "taiwan-japan", "score": 1.0,
                                                "terms": []} for number in range(1, ARTICLES + 1, 5)])
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return engine


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) `engine` sends to the driver inside the block."""
    statements: list[tuple[str, Any]] = []

    def capture(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def query_plan(engine: Engine, listing: Callable[[Session], list[Article]]) -> str:
    """The planner's plan for the articles query `listing` sends (not the eager loads that follow it)."""
    with captured_statements(engine) as statements, Session(engine) as session:
        assert listing(session)
    statement, parameters = next(
        (statement, parameters) for statement, parameters in statements
        if "coalesce(articles.published_at, articles.first_seen_at) >=" in statement
    )
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("listing", LISTINGS.values(), ids=LISTINGS.keys())
def test_listing_since_a_date_searches_the_effective_date_index(
    archive: Engine, listing: Callable[[Session], list[Article]]
) -> None:
    plan = query_plan(archive, listing)
    if archive.dialect.name == "sqlite":
        # A range search on the index (not a full scan), which also yields the order: no sort step.
        assert f"SEARCH articles USING INDEX {INDEX} (<expr>>?)" in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
    else:
        assert f"using {INDEX} on articles" in plan, plan
        assert "Index Cond: (COALESCE(published_at, first_seen_at) >=" in plan, plan


def test_listing_through_the_index_keeps_newest_first_with_id_breaking_ties(
    archive: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        listed = list_articles(session, since=WEEK_AGO, include_unmatched=True)
        every = session.scalars(select(Article)).all()
    dated = sorted(((article.published_at or article.first_seen_at, article.id) for article in every), reverse=True)
    assert [article.id for article in listed] == [article_id for date, article_id in dated if date >= WEEK_AGO]
    assert any(article.published_at is None for article in listed)


def _alembic(engine: Engine, action: Callable[[Config, str], None], revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def _article_index_names(engine: Engine) -> set[str]:
    if engine.dialect.name == "sqlite":  # SQLAlchemy skips expression indexes when reflecting SQLite
        with engine.connect() as connection:
            return set(connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'articles'"
            ).scalars())
    return {index["name"] for index in inspect(engine).get_indexes("articles")}


def test_migration_0005_adds_the_index_and_its_downgrade_drops_it(archive: Engine) -> None:
    assert INDEX in _article_index_names(archive)
    _alembic(archive, command.downgrade, "0004")
    assert INDEX not in _article_index_names(archive)
    _alembic(archive, command.upgrade, "head")
    assert INDEX in _article_index_names(archive)


def test_without_the_index_the_same_listing_reads_the_whole_table(archive: Engine) -> None:
    # The plan check above can fail. Dropped by hand rather than by downgrading to 0004: the listing
    # reads the columns later migrations added (0006: `partial`).
    with archive.begin() as connection:
        connection.exec_driver_sql(f"DROP INDEX {INDEX}")
    plan = query_plan(archive, LISTINGS["since, limit"])
    assert INDEX not in plan and ("SCAN articles" in plan or "Seq Scan on articles" in plan), plan


def test_sqlite_migration_creates_the_index_the_model_declares(engine: Engine, tmp_path) -> None:
    # Alembic cannot compare expression indexes on SQLite (it cannot reflect them), so
    # test_migrations_match_models only covers PostgreSQL: compare SQLite's stored DDL instead.
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL: test_migrations_match_models compares this index")
    from_models = create_engine(f"sqlite:///{tmp_path / 'from-models.db'}")
    try:
        Base.metadata.create_all(from_models)
        statements = [_index_sql(database) for database in (engine, from_models)]
    finally:
        from_models.dispose()
    assert statements[0] == statements[1] == (
        f"CREATE INDEX {INDEX} ON articles (coalesce(published_at, first_seen_at))"
    )


def _index_sql(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (INDEX,)).scalar_one()
