"""One crawl of some sources, start to finish, with a run record per source.

A run record is written as `running` before Scrapy starts and finished with the counts after, so a
process killed mid-crawl leaves a visible `running` row for the next start to mark interrupted.
Scrapy's reactor cannot be restarted, so a process runs one crawl: `kuroshio crawl` is that process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from twisted.internet import task

from kuroshio.storage.records import PageFailure
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.scheduler.config import Config, SourceConfig
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.runs import finish_run, start_run
from kuroshio.storage.articles import known_urls
from kuroshio.storage.page_failures import record_page_failures

PROGRESS_INTERVAL = 0.5


@dataclass(frozen=True)
class SourceRun:
    """What one source's crawl did, as recorded in its run row."""

    source: str
    run_id: int
    status: str
    pages_fetched: int
    articles_new: int
    articles_relevant: int
    duplicates_skipped: int
    errors: tuple[dict[str, str], ...]
    message: str | None
    failed_pages: tuple[PageFailure, ...] = ()


def crawl(
    config: Config, sources: Sequence[SourceConfig], *, log_level: str = "WARNING", progress: TextIO | None = None
) -> list[SourceRun]:
    """Crawl `sources` concurrently into the configured store; one `SourceRun` per source."""
    engine = create_engine_for(config.storage_url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        known = frozenset(known_urls(session))
        run_ids = [start_run(session, source.name, pid=os.getpid()) for source in sources]

    base_settings = scrapy_settings(config.crawl, log_level=log_level)
    process = CrawlerProcess(settings=base_settings)
    crawlers = []
    for position, (source, run_id) in enumerate(zip(sources, run_ids)):
        settings = Settings(base_settings)
        settings.setdict(
            {
                "KUROSHIO_DATABASE_URL": config.storage_url,
                "KUROSHIO_RUN_ID": run_id,
                "KUROSHIO_TOPICS": list(config.topics),
            }
        )
        # Per-source settings need our own Crawler; the first one installs the reactor, as
        # CrawlerProcess.create_crawler would.
        crawler = Crawler(SourceSpider, settings, init_reactor=position == 0)
        crawlers.append(crawler)
        process.crawl(crawler, source=source, known_urls=known)
    if progress is not None:
        ticker = task.LoopingCall(_show_progress, progress, crawlers)
        ticker.start(PROGRESS_INTERVAL)
    process.start()
    if progress is not None:
        progress.write("\r\033[K")
        progress.flush()

    results = [_result(source, run_id, crawler) for source, run_id, crawler in zip(sources, run_ids, crawlers)]
    with sessions() as session:
        for result in results:
            finish_run(
                session,
                result.run_id,
                status=result.status,
                pages_fetched=result.pages_fetched,
                articles_new=result.articles_new,
                articles_relevant=result.articles_relevant,
                duplicates_skipped=result.duplicates_skipped,
                errors=list(result.errors),
                message=result.message,
            )
            record_page_failures(session, result.source, result.failed_pages)
    engine.dispose()
    return results


def _result(source: SourceConfig, run_id: int, crawler: Crawler) -> SourceRun:
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    errors = tuple(spider.errors) if isinstance(spider, SourceSpider) else ()
    failed_pages = tuple(spider.failed_pages) if isinstance(spider, SourceSpider) else ()
    status, message = _verdict(stats, errors)
    return SourceRun(
        source=source.name,
        run_id=run_id,
        status=status,
        pages_fetched=stats.get("downloader/response_count", 0),
        articles_new=stats.get("kuroshio/articles_new", 0),
        articles_relevant=stats.get("kuroshio/articles_relevant", 0),
        duplicates_skipped=stats.get("kuroshio/known_skipped", 0) + stats.get("kuroshio/duplicates_stored_as_alias", 0),
        errors=errors,
        message=message,
        failed_pages=failed_pages,
    )


def _verdict(stats: dict, errors: tuple[dict[str, str], ...]) -> tuple[str, str | None]:
    """ok, or failed with why: a source that discovers no article link, or can store none of the new
    ones it found, has failed, never silently. Finding only known articles is a healthy crawl."""
    finish_reason = stats.get("finish_reason")
    if finish_reason != "finished":
        return "failed", f"crawl ended early: {finish_reason or 'did not start'}"
    first = f" (first error: {errors[0]['url']}: {errors[0]['reason']})" if errors else ""
    if not stats.get("kuroshio/links_discovered"):
        return "failed", f"discovered no article links{first}"
    stored = stats.get("kuroshio/articles_new", 0) + stats.get("kuroshio/duplicates_stored_as_alias", 0)
    if stats.get("kuroshio/article_requests") and not stored:
        return "failed", f"none of {stats['kuroshio/article_requests']} new article pages could be stored{first}"
    return "ok", None


def _show_progress(stream: TextIO, crawlers: list[Crawler]) -> None:
    parts = []
    for crawler in crawlers:
        if crawler.stats is None or crawler.spider is None:
            continue
        stats = crawler.stats.get_stats()
        parts.append(
            f"{crawler.spider.name}: {stats.get('downloader/response_count', 0)} pages, "
            f"{stats.get('kuroshio/articles_new', 0)} new"
        )
    stream.write("\r\033[K" + " | ".join(parts)[:200])
    stream.flush()


def progress_stream() -> TextIO | None:
    """stderr when it is a terminal; a progress line in a log file is noise."""
    return sys.stderr if sys.stderr.isatty() else None
