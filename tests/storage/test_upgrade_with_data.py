"""`kuroshio db upgrade` on a database made at the first migration and full of data: nothing is lost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from alembic.config import Config
from sqlalchemy import select

from kuroshio.scheduler.locks import acquire, holder, new_owner
from kuroshio.storage.articles import article_record, known_urls, list_articles, store_article
from kuroshio.storage.engine import MIGRATIONS_DIR, create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import ArticleURL
from kuroshio.storage.page_failures import record_page_failures
from kuroshio.storage.records import ExtractedArticle, PageFailure, TopicMatch
from kuroshio.storage.runs import finish_run, list_runs, start_run
from kuroshio.storage.search import search_articles

ARTICLES = 300
TAIPEI = timezone(timedelta(hours=8))


def upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill(sessions) -> list[dict]:
    """Runs and articles (with aliases and topic matches) written while the schema is at 0001."""
    with sessions() as session:
        run_id = start_run(session, "focus-taiwan", pid=None, now=datetime.now(timezone.utc))
        for number in range(ARTICLES):
            url = f"https://focustaiwan.tw/politics/2025120{number:05d}"
            article = ExtractedArticle(
                url=url, canonical_url=url, source="focus-taiwan", title=f"Story {number} on Kumamoto chips",
                text=f"Paragraph {number} about Taiwan and Japan.\n\nSecond paragraph {number}.",
                authors=("Tseng Yun-ting",), published_at=datetime(2025, 12, 2, 20, 18, tzinfo=TAIPEI)
                + timedelta(minutes=number), language="en",
            )
            matches = [TopicMatch("taiwan-japan", 4.0, ("Taiwan", "Japan"))] if number % 3 == 0 else []
            store_article(session, article, matches=matches, crawl_run_id=run_id, seen_urls=(f"{url}?utm_source=x",), now=datetime.now(timezone.utc))
        finish_run(session, run_id, status="ok", pages_fetched=ARTICLES, articles_new=ARTICLES,
                   articles_relevant=ARTICLES // 3, duplicates_skipped=0, errors=[{"url": "u", "reason": "HTTP 404"}], now=datetime.now(timezone.utc))
        return [article_record(a) for a in list_articles(session, include_unmatched=True, limit=None)]


def test_upgrading_a_full_first_migration_database_to_head_loses_nothing(database_url):
    engine = create_engine_for(database_url)
    upgrade_to(engine, "0001")
    sessions = session_factory(engine)
    before = fill(sessions)
    with sessions() as session:  # known_urls() reads a later table too: ask the 0001 one directly
        urls_before = set(session.scalars(select(ArticleURL.url)))
    assert len(before) == ARTICLES and len(urls_before) == 2 * ARTICLES

    upgrade_schema(engine)

    with sessions() as session:
        after = [article_record(a) for a in list_articles(session, include_unmatched=True, limit=None)]
        assert after == before
        assert known_urls(session, now=datetime.now(timezone.utc)) == urls_before
        assert len(list_articles(session, topic="taiwan-japan", limit=None)) == ARTICLES // 3
        assert [run.errors_count for run in list_runs(session)] == [1]
        assert [a.title for a in search_articles(session, "Paragraph 123", limit=5)] == ["Story 123 on Kumamoto chips"]
        # The tables the later migrations added work on the upgraded database.
        record_page_failures(session, "focus-taiwan", [PageFailure("https://focustaiwan.tw/gone", "HTTP 404", True)], now=datetime.now(timezone.utc))
        assert "https://focustaiwan.tw/gone" in known_urls(session, now=datetime.now(timezone.utc))
        acquire(session, "daemon", owner=new_owner(), ttl=30)
        assert holder(session, "daemon") is not None
    engine.dispose()
