"""A Scrapy extension that makes reading chosen pages fail inside a real crawl, for the page-error test.

Enabled through `[crawl] scrapy_settings` (with this folder on PYTHONPATH): a page whose URL carries
`fault=bug` raises a TypeError when read, one with `fault=recursion` a RecursionError — errors no
extraction code expects, standing in for the next bug.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

FAULTS: dict[str, BaseException] = {
    "fault=bug": TypeError("injected: a bug in extraction"),
    "fault=recursion": RecursionError("maximum recursion depth exceeded (injected)"),
}


class FailingExtraction:
    """Wraps the spider's page reading so that the pages named in `FAULTS` raise their error."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FailingExtraction:
        extension = cls()
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        read = spider._read  # type: ignore[attr-defined]

        async def failing_read(body: bytes, *, url: str, **options: Any) -> Any:
            for marker, error in FAULTS.items():
                if marker in url:
                    raise error
            return await read(body, url=url, **options)

        spider._read = failing_read  # type: ignore[attr-defined]
