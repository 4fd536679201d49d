"""A store filled through the store's own functions, for the tests of the reading commands (`articles
list`, `runs`, `sources`, `status`): what they show depends only on what is recorded, so no crawl runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fixture_web import write_config
from sqlalchemy.orm import Session

from kuroshio.storage.articles import ArticleToStore, store_articles
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.records import ExtractedArticle, TopicMatch
from kuroshio.storage.runs import finish_run, start_run

START = datetime(2025, 12, 1, tzinfo=timezone.utc)
TOPIC = "taiwan-japan"  # the demo config's topic
SOURCES = ("focus-taiwan", "kyodo", "taiwan-news")  # the demo config's sources


def store_config(folder: Path, database_url: str, *, extra: str = "") -> Path:
    """The demo config on `database_url` (no web is reached: the proxy is a closed port), plus `extra` TOML."""
    config = write_config(folder / "kuroshio.toml", database_url=database_url, proxy="http://127.0.0.1:9")
    if extra:
        config.write_text(config.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return config


@contextmanager
def store_session(database_url: str) -> Iterator[Session]:
    """A session on the store at `database_url`, its schema made first."""
    engine = create_engine_for(database_url)
    upgrade_schema(engine)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def article(number: int, *, title: str | None = None, source: str = "kyodo", matched: bool = True,
            authors: Sequence[str] = ("Ko Lin",)) -> ArticleToStore:
    """Article `number`, published `number` hours after `START` (a higher number is newer)."""
    extracted = ExtractedArticle(
        url=f"http://{source}.test/news/{number}", canonical_url=f"http://{source}.test/news/{number}",
        source=source, title=title or f"Taiwan and Japan, story {number}", text=f"Story {number} text. " * 20,
        authors=tuple(authors), published_at=START + timedelta(hours=number), language="en")
    matches = (TopicMatch(TOPIC, 2.5, ("Taiwan", "Japan")),) if matched else ()
    return ArticleToStore(extracted, matches=matches)


def store(session: Session, items: Sequence[ArticleToStore]) -> None:
    """Store `items` as one crawl would, seen at `START`."""
    store_articles(session, items, crawl_run_id=None, now=START)


def record_run(session: Session, source: str, *, started: datetime, status: str = "ok", articles_new: int = 1,
               errors: int = 0, errors_count: int | None = None, message: str | None = None) -> int:
    """A finished run of `source`, a minute long, with `errors` errors passed (of `errors_count` in all)."""
    run_id = start_run(session, source, now=started)
    finish_run(session, run_id, status=status, pages_fetched=errors + articles_new, articles_new=articles_new,
               articles_relevant=articles_new, duplicates_skipped=0,
               errors=[{"url": f"http://{source}.test/{n}", "reason": f"HTTP 404 ({n})"} for n in range(errors)],
               errors_count=errors_count, message=message, now=started + timedelta(minutes=1))
    return run_id
