"""Running the spiders of some sources at once in this process, and what each of them did.

Scrapy's reactor cannot be restarted, so a process runs one crawl: `kuroshio crawl` is that process.
The crawl itself does not know when or why it runs: the run records that frame it (started before,
finished after) are the scheduler's (`kuroshio.scheduler.crawls`), and it is handed the run ids to tag
what it stores with, and the window it fetches (`crawler.window`: the scheduler knows when the crawl runs).

SIGINT (Ctrl-C) and SIGTERM stop a crawl in two steps (`SignalStop`, in place of Scrapy's handlers, which
say nothing at the default log level): the first closes every spider once the requests in flight are
answered and their articles stored, the second stops at once. Either way each source's run is
`interrupted`, with what it did so far. Progress is shown while it runs (`crawler.progress`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TextIO, cast

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.ossignal import install_shutdown_handlers
from twisted.internet.base import ReactorBase

from kuroshio.crawler.options import CrawlConfig, SourceConfig
from kuroshio.crawler.progress import LiveLine
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.crawler.topics import Topic
from kuroshio.crawler.window import NO_WINDOW, CrawlWindow, no_link_in_window_note
from kuroshio.storage.records import PageFailure
from kuroshio.storage.validators import DocumentAnswer

# Called when a signal stops the crawl: the signal, and whether this one stops it at once (the second).
OnInterrupt = Callable[[int, bool], None]


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
    on_interrupt: OnInterrupt | None = None,
) -> list[SourceRun]:
    """Crawl `sources` concurrently into the store at `storage_url`, tagging what each stores with its
    run id, fetching no article the store knows nor any link dated before `window`, and at most
    `crawl.max_pages` pages per source; one `SourceRun` per source, in order. A live progress line goes
    to `progress` (a terminal), else each source logs its progress now and then; `on_interrupt` hears
    of SIGINT and SIGTERM as they stop the crawl."""
    base_settings = scrapy_settings(crawl, log_level=log_level)
    if progress is not None:  # the live line says what the log lines would
        base_settings["KUROSHIO_PROGRESS_INTERVAL"] = 0
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
    live = LiveLine(progress, crawlers) if progress is not None else None
    stop = SignalStop(process, live=live, on_interrupt=on_interrupt)
    stop.install()
    if live is not None:
        live.start()
    try:
        process.start(install_signal_handlers=False)
    finally:
        stop.uninstall()
        if live is not None:
            live.stop()
    return [source_run(source, crawler, stopped=stop.note()) for source, crawler in zip(sources, crawlers)]


class SignalStop:
    """Stops the crawl on SIGINT or SIGTERM: gracefully on the first, at once when the same signal comes
    again. Another signal meanwhile changes nothing: Ctrl-C on the daemon's terminal reaches its crawls
    as SIGINT, then the daemon asks them to stop with SIGTERM, which is the same request.

    Scrapy's own handlers do the same but say so only at INFO, and a crawl stopped gracefully is then
    told from a finished one only by its finish reason; here the caller hears of each signal
    (`on_interrupt`, called in the reactor: nothing is written from inside a signal handler) and the
    runs are recorded `interrupted`.
    """

    def __init__(self, process: CrawlerProcess, *, live: LiveLine | None, on_interrupt: OnInterrupt | None) -> None:
        self.process = process
        self.live = live
        self.on_interrupt = on_interrupt
        self.signum: int | None = None
        self.at_once = False

    def install(self) -> None:
        """Take SIGINT and SIGTERM once the reactor runs (when Scrapy would install its own)."""
        _reactor().addSystemEventTrigger("after", "startup", install_shutdown_handlers, self.signalled)

    def uninstall(self) -> None:
        """Python's own handlers again: a Ctrl-C while the runs are recorded is a KeyboardInterrupt."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def signalled(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: hands the stop to the reactor."""
        reactor = _reactor()
        if self.signum is None:
            self.signum = signum
            reactor.callFromThread(self._stop_gracefully)
        elif signum == self.signum:
            self.at_once = True
            install_shutdown_handlers(signal.SIG_IGN)  # until the reactor is down: uninstall takes over
            reactor.callFromThread(self._stop_at_once)

    def _stop_gracefully(self) -> None:
        self._tell(at_once=False)
        self.process.stop().addBoth(self._stop_reactor)

    def _stop_at_once(self) -> None:
        self._tell(at_once=True)
        self._stop_reactor()

    def _tell(self, *, at_once: bool) -> None:
        assert self.signum is not None
        if self.live is not None:
            self.live.clear()
        if self.on_interrupt is not None:
            self.on_interrupt(self.signum, at_once)

    @staticmethod
    def _stop_reactor(_: object = None) -> None:
        with contextlib.suppress(RuntimeError):  # stopped already, or stopping
            _reactor().stop()

    def note(self) -> str | None:
        """What the run record says of the stop, or None when no signal came."""
        if self.signum is None:
            return None
        name = signal.Signals(self.signum).name
        if self.at_once:
            return f"interrupted ({name} twice): stopped at once"
        return f"interrupted ({name}): stopped after the pages in flight"


def _reactor() -> ReactorBase:
    """The reactor the first crawler installed (imported only then: importing it installs the default one)."""
    from twisted.internet import reactor

    return cast(ReactorBase, reactor)


def source_run(source: SourceConfig, crawler: Crawler, *, stopped: str | None) -> SourceRun:
    """What `crawler`'s crawl of `source` did, from its spider and stats. `stopped` says why the crawl was
    stopped early (a signal, a Scrapyd cancel), if it was: a crawl that did not finish is then interrupted."""
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    errors = tuple(spider.errors) if isinstance(spider, SourceSpider) else ()
    failed_pages = tuple(spider.failed_pages) if isinstance(spider, SourceSpider) else ()
    interrupted = stopped if stats.get("finish_reason") != "finished" else None  # not one done before
    status, verdict = ("interrupted", interrupted) if interrupted else _verdict(stats, errors)
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


def progress_stream() -> TextIO | None:
    """stderr when it is a terminal; a progress line in a log file is noise."""
    return sys.stderr if sys.stderr.isatty() else None
