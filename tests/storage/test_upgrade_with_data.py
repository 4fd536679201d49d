"""`kuroshio db upgrade` on a database made at the first migration and full of data: nothing is lost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select
from storage_support import stored_urls

from kuroshio.scheduler.locks import acquire, holder, new_owner
from kuroshio.storage.articles import article_record, known_links, list_articles
from kuroshio.storage.engine import MIGRATIONS_DIR, create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleTopic, ArticleURL, CrawlRun
from kuroshio.storage.page_failures import record_page_failures
from kuroshio.storage.records import PageFailure, text_sha256
from kuroshio.storage.runs import list_runs
from kuroshio.storage.search import search_articles
from kuroshio.storage.sources import add_source_if_missing

ARTICLES = 300
TAIPEI = timezone(timedelta(hours=8))


def upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill(sessions) -> None:
    """Runs and articles (with aliases and topic matches) written while the schema is at 0001, in the
    columns 0001 gave them: the models describe the newest schema (0006 added `articles.partial`), so
    the articles and the run go in as plain inserts of the 0001 columns (0009 added `crawl_runs.not_modified`),
    as the code of that time wrote them."""
    with sessions() as session, session.begin():
        source_id = add_source_if_missing(session, "focus-taiwan").id
        run_id = session.execute(insert(CrawlRun.__table__).values(
            source_id=source_id, started_at=datetime.now(timezone.utc), finished_at=datetime.now(timezone.utc),
            status="ok", pages_fetched=ARTICLES, articles_new=ARTICLES, articles_relevant=ARTICLES // 3,
            duplicates_skipped=0, errors_count=1, errors=[{"url": "u", "reason": "HTTP 404"}],
        ).returning(CrawlRun.id)).scalar_one()
    articles, urls, matches = [], [], []
    for number in range(ARTICLES):
        url = f"https://focustaiwan.tw/politics/2025120{number:05d}"
        text = f"Paragraph {number} about Taiwan and Japan.\n\nSecond paragraph {number}."
        published = datetime(2025, 12, 2, 20, 18, tzinfo=TAIPEI) + timedelta(minutes=number)
        articles.append({"id": number + 1, "source_id": source_id, "url": url, "canonical_url": url,
                         "title": f"Story {number} on Kumamoto chips", "authors": ["Tseng Yun-ting"],
                         "published_at": published, "published_utc_offset": 480, "language": "en", "text": text,
                         "content_sha256": text_sha256(text), "first_seen_at": datetime.now(timezone.utc),
                         "crawl_run_id": run_id})
        urls += [{"article_id": number + 1, "url": url}, {"article_id": number + 1, "url": f"{url}?utm_source=x"}]
        if number % 3 == 0:
            matches.append({"article_id": number + 1, "topic": "taiwan-japan", "score": 4.0, "terms": ["Taiwan", "Japan"]})
    with sessions() as session, session.begin():
        session.execute(insert(Article.__table__), articles)
        session.execute(insert(ArticleURL.__table__), urls)
        session.execute(insert(ArticleTopic.__table__), matches)


def rows_0001(sessions) -> dict[str, list[tuple]]:
    """Every row of the article tables, in the columns migration 0001 created."""
    tables = {"articles": [column for column in Article.__table__.c if column.name != "partial"],
              "article_urls": list(ArticleURL.__table__.c),
              "topic_matches": [column for column in ArticleTopic.__table__.c if column.name != "rematched_at"]}
    with sessions() as session:
        return {name: sorted([tuple(row) for row in session.execute(select(*columns))], key=repr)
                for name, columns in tables.items()}


def test_upgrading_a_full_first_migration_database_to_head_loses_nothing(database_url):
    engine = create_engine_for(database_url)
    upgrade_to(engine, "0001")
    sessions = session_factory(engine)
    fill(sessions)
    before = rows_0001(sessions)
    assert len(before["articles"]) == ARTICLES and len(before["article_urls"]) == 2 * ARTICLES

    upgrade_schema(engine)

    assert rows_0001(sessions) == before
    with sessions() as session:
        records = [article_record(a) for a in list_articles(session, include_unmatched=True, limit=None)]
        assert len(records) == ARTICLES and not any(record["partial"] for record in records)
        assert records[0]["published"] == "2025-12-03T01:17:00+08:00" and records[0]["authors"] == ["Tseng Yun-ting"]
        assert stored_urls(session) == {row[-1] for row in before["article_urls"]}
        assert len(list_articles(session, topic="taiwan-japan", limit=None)) == ARTICLES // 3
        assert set(session.scalars(select(ArticleTopic.rematched_at))) == {None}  # 0008: matched by their crawl
        assert [run.errors_count for run in list_runs(session)] == [1]
        assert [a.title for a in search_articles(session, "Paragraph 123", limit=5)] == ["Story 123 on Kumamoto chips"]
        # The tables the later migrations added work on the upgraded database.
        record_page_failures(session, "focus-taiwan", [PageFailure("https://focustaiwan.tw/gone", "HTTP 404", True)], now=datetime.now(timezone.utc))
        gone = ["https://focustaiwan.tw/gone"]
        assert known_links(session, gone, now=datetime.now(timezone.utc)) == set(gone)
        acquire(session, "daemon", owner=new_owner(), ttl=30)
        assert holder(session, "daemon") is not None
    engine.dispose()
