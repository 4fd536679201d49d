"""The crawl's questions to the store search indexes: which discovered links are known (`known_links`:
`article_urls.url`, `page_failures.url`) and whether a body is already stored (`content_sha256`), so
their cost follows the links and articles asked about, not the size of the archive.

The statements explained are the ones the store really sends (captured on the way to the driver).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session, sessionmaker
from storage_support import store_one

from kuroshio.storage.articles import known_links
from kuroshio.storage.models import Article, ArticleURL, PageFailure, Source
from kuroshio.storage.records import ExtractedArticle

NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)
ARTICLES = 20_000  # enough that PostgreSQL's planner prefers an index to reading the table


@pytest.fixture
def archive(engine: Engine, sessions: sessionmaker[Session]) -> Engine:
    """A migrated store of `ARTICLES` articles with a URL each and as many failed pages; fresh statistics."""
    with sessions() as session, session.begin():
        session.execute(insert(Source), [{"id": 1, "name": "example-news"}])
        session.execute(insert(Article), [
            {"id": n, "source_id": 1, "url": f"https://news.example/{n}", "canonical_url": f"https://news.example/{n}",
             "title": "Old", "authors": [], "text": "Body.", "content_sha256": f"{n:064x}", "first_seen_at": NOW}
            for n in range(1, ARTICLES + 1)])
        session.execute(insert(ArticleURL), [{"article_id": n, "url": f"https://news.example/{n}"}
                                             for n in range(1, ARTICLES + 1)])
        session.execute(insert(PageFailure), [
            {"source_id": 1, "url": f"https://news.example/gone/{n}", "reason": "HTTP 404", "permanent": True,
             "attempts": 1, "first_failed_at": NOW, "last_failed_at": NOW} for n in range(ARTICLES)])
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT setval('articles_id_seq', (SELECT max(id) FROM articles))")
            connection.exec_driver_sql("ANALYZE")
    return engine


def plans(engine: Engine, work: Callable[[Session], Any], *, table: str) -> list[str]:
    """The planner's plan of each SELECT from `table` alone, with a WHERE clause, that `work` sends."""
    statements: list[tuple[str, Any]] = []

    def capture(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and re.search(rf"\bFROM {table}\s+WHERE\b", statement):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            work(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        return ["\n".join(str(row[-1]) for row in connection.exec_driver_sql(explain + statement, parameters))
                for statement, parameters in statements]


def assert_index_search(plan: str, *, table: str, index: str, dialect: str) -> None:
    if dialect == "sqlite":  # a unique constraint's index is SQLite's own, named sqlite_autoindex_<table>_<n>
        assert re.fullmatch(rf"SEARCH {table} USING (COVERING )?INDEX \w+ \((url|content_sha256)=\?\)", plan), plan
    else:  # an index scan, or a bitmap scan of the index (several keys)
        assert re.search(rf"(Index|Index Only|Bitmap Index) Scan (using|on) {index}\b", plan), plan
        assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(("table", "index"), [("article_urls", "uq_article_urls_url"),
                                              ("page_failures", "uq_page_failures_url")])
def test_known_links_searches_the_url_indexes(archive: Engine, table: str, index: str) -> None:
    asked = ["https://news.example/7", "https://news.example/gone/3", "https://news.example/new"]
    found: list[set[str]] = []
    [plan] = plans(archive, lambda session: found.append(known_links(session, asked, now=NOW)), table=table)
    assert found == [set(asked[:2])]
    assert_index_search(plan, table=table, index=index, dialect=archive.dialect.name)


def test_the_same_body_check_searches_the_fingerprint_index(archive: Engine) -> None:
    copy = ExtractedArticle(url="https://mirror.example/7", canonical_url="https://mirror.example/7",
                            source="example-news", title="Old", text="Body.")
    body_lookups = plans(archive, lambda session: store_one(session, copy), table="articles")
    assert body_lookups, "the store never looked the body up"
    for plan in body_lookups:
        assert_index_search(plan, table="articles", index="ix_articles_content_sha256", dialect=archive.dialect.name)
