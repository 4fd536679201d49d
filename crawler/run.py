"""Running the spiders of some sources at once in this process, and what each of them did.

Scrapy's reactor cannot be restarted, so a process runs one crawl: `kuroshio crawl` is that process.
The crawl itself does not know when or why it runs: the run records that frame it (started before,
finished after) are the scheduler's (`kuroshio.scheduler.crawls`), and it is handed the run ids to tag
what it stores with, and the window it fetches (`crawler.window`: the scheduler knows when the crawl runs).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from twisted.internet import task

from kuroshio.crawler.options import CrawlConfig, SourceConfig
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.crawler.topics import Topic
from kuroshio.crawler.window import NO_WINDOW, CrawlWindow, no_link_in_window_note
from kuroshio.storage.records import PageFailure
from kuroshio.storage.validators import DocumentAnswer

PROGRESS_INTERVAL = 0.5


@dataclass(frozen=True)
class SourceRun:
    """What one source's crawl did, as recorded in its run row."""

    source: str
    status: str
    pages_fetched: int
    articles_new: int
    articles_relevant: int
    duplicates_skipped: int
    errors: tuple[dict[str, str], ...]  # the first MAX_ERRORS_KEPT (spiders.source)
    message: str | None
    failed_pages: tuple[PageFailure, ...] = ()
    errors_count: int = 0  # every error, kept or not
    not_modified: int = 0  # discovery documents that answered 304
    document_answers: tuple[DocumentAnswer, ...] = ()  # to remember: those of finished documents


def run_spiders(
    sources: Sequence[SourceConfig],
    *,
    crawl: CrawlConfig,
    topics: Sequence[Topic],
    storage_url: str,
    run_ids: Sequence[int],
    window: CrawlWindow = NO_WINDOW,
    log_level: str = "WARNING",
    progress: TextIO | None = None,
) -> list[SourceRun]:
    """Crawl `sources` concurrently into the store at `storage_url`, tagging what each stores with its
    run id, fetching no article the store knows nor any link dated before `window`, and at most
    `crawl.max_pages` pages per source; one `SourceRun` per source, in order."""
    base_settings = scrapy_settings(crawl, log_level=log_level)
    process = CrawlerProcess(settings=base_settings)
    crawlers = []
    for position, (source, run_id) in enumerate(zip(sources, run_ids)):
        settings = Settings(base_settings)
        settings.setdict(
            {
                "KUROSHIO_DATABASE_URL": storage_url,
                "KUROSHIO_RUN_ID": run_id,
                "KUROSHIO_TOPICS": list(topics),
            }
        )
        # Per-source settings need our own Crawler; the first one installs the reactor, as
        # CrawlerProcess.create_crawler would.
        crawler = Crawler(SourceSpider, settings, init_reactor=position == 0)
        crawlers.append(crawler)
        process.crawl(crawler, source=source, window=window, max_pages=crawl.max_pages)
    if progress is not None:
        ticker = task.LoopingCall(_show_progress, progress, crawlers)
        ticker.start(PROGRESS_INTERVAL)
    process.start()
    if progress is not None:
        progress.write("\r\033[K")
        progress.flush()
    return [_result(source, crawler) for source, crawler in zip(sources, crawlers)]


def _result(source: SourceConfig, crawler: Crawler) -> SourceRun:
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    errors = tuple(spider.errors) if isinstance(spider, SourceSpider) else ()
    failed_pages = tuple(spider.failed_pages) if isinstance(spider, SourceSpider) else ()
    status, verdict = _verdict(stats, errors)
    # A crawl that did not finish left requests undone: no document's answer is remembered.
    documents = spider.documents if isinstance(spider, SourceSpider) else None
    answers = documents.finished_answers() if documents is not None and stats.get("finish_reason") == "finished" else ()
    notes = [verdict]
    if isinstance(spider, SourceSpider):
        notes.append(spider.cap_note())
        notes.append(no_link_in_window_note(window=spider.window, too_old=stats.get("kuroshio/links_too_old", 0),
                                            admitted=stats.get("kuroshio/links_in_window", 0)))
    message = "; ".join(note for note in notes if note) or None
    return SourceRun(
        source=source.name,
        status=status,
        pages_fetched=stats.get("downloader/response_count", 0),
        articles_new=stats.get("kuroshio/articles_new", 0),
        articles_relevant=stats.get("kuroshio/articles_relevant", 0),
        duplicates_skipped=stats.get("kuroshio/known_skipped", 0) + stats.get("kuroshio/duplicates_stored_as_alias", 0),
        errors=errors,
        message=message,
        failed_pages=failed_pages,
        errors_count=stats.get("kuroshio/errors", 0),
        not_modified=stats.get("kuroshio/not_modified", 0),
        document_answers=answers,
    )


def _verdict(stats: dict, errors: tuple[dict[str, str], ...]) -> tuple[str, str | None]:
    """ok, or failed with why: a source that discovers no article link, or can store none of the new
    ones it found, has failed, never silently. Finding only known articles, or documents not modified
    since the last crawl, is a healthy crawl."""
    finish_reason = stats.get("finish_reason")
    if finish_reason != "finished":
        return "failed", f"crawl ended early: {finish_reason or 'did not start'}"
    first = f" (first error: {errors[0]['url']}: {errors[0]['reason']})" if errors else ""
    if not stats.get("kuroshio/links_discovered") and not stats.get("kuroshio/documents_unchanged"):
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
