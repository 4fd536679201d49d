"""Scrapy extensions that make a crawl misbehave, for the daemon tests: crash, or ignore SIGTERM.

Enabled through `[crawl] scrapy_settings`; it crashes only the crawl of the source named by the
`CRASH_SOURCE` setting, so the daemon's other crawls run normally.
"""

from __future__ import annotations

import os
import signal

from scrapy import Spider, signals
from scrapy.crawler import Crawler


class CrashWhenOpened:
    """Exits the process with status 3 when the spider of `CRASH_SOURCE` opens."""

    def __init__(self, source: str) -> None:
        self.source = source

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrashWhenOpened:
        extension = cls(crawler.settings.get("CRASH_SOURCE", ""))
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        if spider.name == self.source:
            os._exit(3)


class IgnoreSigterm:
    """Makes the crawl deaf to SIGTERM once its spider opens: a crawl that will not stop politely."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IgnoreSigterm:
        extension = cls()
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
