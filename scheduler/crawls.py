"""One crawl of some sources as the scheduler frames it: a run record per source around the spiders.

A run record is written as `running` before Scrapy starts and finished with the counts after, so a
process killed mid-crawl leaves a visible `running` row for the next start to mark interrupted. Pages
that could not be stored are recorded after the crawl, so the next one knows which to leave alone, and
so are the validators of the discovery documents it finished (`kuroshio.storage.validators`).

The crawl's window (`kuroshio.crawler.window`) starts `[crawl] max_age` before the crawl does (none when
it is 0), or at `since` for a backfill (`kuroshio crawl --since DATE`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TextIO

from sqlalchemy.orm import Session

from kuroshio.crawler.options import SourceConfig
from kuroshio.crawler.run import OnInterrupt, SourceRun, run_spiders
from kuroshio.crawler.window import CrawlWindow
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.locks import HOST
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.page_failures import record_page_failures
from kuroshio.storage.runs import finish_run, start_run
from kuroshio.storage.validators import record_document_answers


def crawl(
    config: Config,
    sources: Sequence[SourceConfig],
    *,
    since: datetime | None = None,
    log_level: str = "WARNING",
    progress: TextIO | None = None,
    on_interrupt: OnInterrupt | None = None,
) -> list[SourceRun]:
    """Crawl `sources` concurrently into the configured store, fetching what was published since `since`
    (default: within `crawl.max_age`); one `SourceRun` per source. A crawl stopped by SIGINT or SIGTERM
    (`on_interrupt` hears of it) records its runs `interrupted`, with their counts so far."""
    engine = create_engine_for(config.storage_url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    started_at = datetime.now(timezone.utc)
    with sessions() as session:
        run_ids = [start_run(session, source.name, pid=os.getpid(), host=HOST, now=started_at) for source in sources]
    window = crawl_window(started_at, max_age=config.crawl.max_age, since=since)
    results = run_spiders(sources, crawl=config.crawl, topics=config.topics, storage_url=config.storage_url,
                          run_ids=run_ids, window=window, log_level=log_level, progress=progress,
                          on_interrupt=on_interrupt)
    finished_at = datetime.now(timezone.utc)
    with sessions() as session:
        for run_id, result in zip(run_ids, results):
            record_result(session, run_id, result, now=finished_at)
    engine.dispose()
    return results


def record_result(session: Session, run_id: int, result: SourceRun, *, now: datetime) -> None:
    """Finish run `run_id` as `result` says, and remember the pages it could not store and the discovery
    documents it finished (a crawl here, or a Scrapyd job's, `kuroshio.scheduler.scrapyd_job`)."""
    finish_run(
        session,
        run_id,
        status=result.status,
        pages_fetched=result.pages_fetched,
        articles_new=result.articles_new,
        articles_relevant=result.articles_relevant,
        duplicates_skipped=result.duplicates_skipped,
        errors=list(result.errors),
        errors_count=result.errors_count,
        message=result.message,
        not_modified=result.not_modified,
        now=now,
    )
    record_page_failures(session, result.source, result.failed_pages, now=now)
    record_document_answers(session, result.document_answers, now=now)


def crawl_window(started_at: datetime, *, max_age: float, since: datetime | None) -> CrawlWindow:
    """The window of a crawl started at `started_at`: from `since` when given, else `max_age` seconds back
    (no window when that is 0)."""
    if since is not None:
        return CrawlWindow(since)
    return CrawlWindow(started_at - timedelta(seconds=max_age) if max_age else None)
