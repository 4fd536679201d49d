"""What a running crawl has done so far, for the operator watching it: a live line on a terminal, a log
line now and then otherwise.

Both read the same counters of each source's crawl stats (`SourceProgress`): pages fetched (every
response, robots.txt and 304s included, as the run record counts them), articles stored, errors, and
discovery documents that answered 304 ("unchanged"), shown once there is one.

- `LiveLine`: on a terminal, one line for the whole crawl, rewritten in place every
  `LIVE_LINE_INTERVAL` seconds (`focus-taiwan 120 fetched · 34 stored · 2 errors | kyodo ...`) and
  cleared when the crawl ends, where the summary takes its place. One line needs no progress-bar
  library: a crawl has no known total to draw a bar against.
- `ProgressLog`, a Scrapy extension: elsewhere (cron, a pipe, the daemon's crawl processes, whose
  stderr is the daemon's log), one INFO line per source every `KUROSHIO_PROGRESS_INTERVAL` seconds
  (default 60; 0 switches it off), the first only after one interval, so a short crawl logs none.
  `crawler.run` switches it off when the live line shows the same.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

from kuroshio.storage.text import char_width, one_line

logger = logging.getLogger(__name__)

LIVE_LINE_INTERVAL = 1.0
DEFAULT_LOG_INTERVAL = 60.0
SEPARATOR = " · "


@dataclass(frozen=True)
class SourceProgress:
    """One source's crawl so far."""

    source: str
    fetched: int
    stored: int
    errors: int
    unchanged: int

    @classmethod
    def of(cls, source: str, stats: StatsCollector) -> SourceProgress:
        """The progress of `source`'s crawl, read from its Scrapy stats."""
        return cls(source, fetched=stats.get_value("downloader/response_count", 0),
                   stored=stats.get_value("kuroshio/articles_new", 0), errors=stats.get_value("kuroshio/errors", 0),
                   unchanged=stats.get_value("kuroshio/not_modified", 0))

    def counts(self) -> str:
        """`120 fetched · 34 stored · 2 errors` (`· 5 unchanged` once a document answered 304)."""
        counts = [f"{self.fetched:,} fetched", f"{self.stored:,} stored", f"{self.errors:,} errors"]
        if self.unchanged:
            counts.append(f"{self.unchanged:,} unchanged")
        return SEPARATOR.join(counts)

    def describe(self) -> str:
        """`kyodo 120 fetched · 34 stored · 2 errors`."""
        return f"{one_line(self.source)} {self.counts()}"  # config text: one line, no escape reaches the terminal


class ProgressLog:
    """Logs a source's progress at INFO every `KUROSHIO_PROGRESS_INTERVAL` seconds while its spider runs."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.started = 0.0
        self.ticker: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressLog:
        """The extension, unless the interval is 0."""
        interval = crawler.settings.getfloat("KUROSHIO_PROGRESS_INTERVAL", DEFAULT_LOG_INTERVAL)
        if interval <= 0:
            raise NotConfigured  # with a reason, Scrapy would log it as a warning
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.started = time.monotonic()
        self.ticker = task.LoopingCall(self.log_progress, spider)
        self.ticker.start(self.interval, now=False)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()

    def log_progress(self, spider: Spider) -> None:
        """One line: the source's counts so far and how long its crawl has run."""
        assert self.crawler.stats is not None
        elapsed = time.monotonic() - self.started
        progress = SourceProgress.of(spider.name, self.crawler.stats)
        logger.info("crawl of %s: %s after %.0f s", spider.name, progress.counts(), elapsed)


class LiveLine:
    """The crawl's progress on a terminal: every source on one line, rewritten in place."""

    def __init__(self, stream: TextIO, crawlers: Sequence[Crawler]) -> None:
        self.stream = stream
        self.crawlers = crawlers
        self.ticker = task.LoopingCall(self.show)
        self.shown = False

    def start(self) -> None:
        """Show the line now and every `LIVE_LINE_INTERVAL` seconds from when the reactor runs."""
        self.ticker.start(LIVE_LINE_INTERVAL)

    def show(self) -> None:
        """Rewrite the line with each open spider's counts, cut to the terminal's width."""
        parts = [SourceProgress.of(crawler.spider.name, crawler.stats).describe()
                 for crawler in self.crawlers if crawler.spider is not None and crawler.stats is not None]
        if not parts:
            return
        self.stream.write("\r\033[K" + _cut(" | ".join(parts), _columns(self.stream) - 1))
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Take the line away, for a line of its own; the next update shows it again below."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def stop(self) -> None:
        """Stop updating the line and take it away: the crawl's summary takes its place."""
        if self.ticker.running:
            self.ticker.stop()
        self.clear()


def _columns(stream: TextIO) -> int:
    """The terminal's width; 80 when it does not say (a new pseudo-terminal reports 0)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or 80


def _cut(line: str, width: int) -> str:
    """`line` cut to `width` terminal cells (a wide character takes two), so it never wraps: a wrapped
    line is no longer rewritten in place."""
    used = 0
    for index, char in enumerate(line):
        used += char_width(char)
        if used > width:
            return line[:index]
    return line

