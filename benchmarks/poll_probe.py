"""A Scrapy extension the polling and archive benchmarks load into a crawl process: it appends one JSON
line per source to the file `POLL_PROBE_RECORD` names, with the process's CPU and wall clock when that
source's engine started and when its spider closed, and the bytes and responses it received.

Enabled through `[crawl] scrapy_settings` (EXTENSIONS, with `benchmarks` importable: PYTHONPATH=repo).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scrapy import signals
from scrapy.crawler import Crawler


class PollProbe:
    """Records when one crawler's work began and ended, in process CPU and wall time, and what it received."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.record = Path(crawler.settings["POLL_PROBE_RECORD"])
        self.started: tuple[float, float] = (0.0, 0.0)
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PollProbe:
        return cls(crawler)

    def engine_started(self) -> None:
        self.started = (time.process_time(), time.time())

    def spider_closed(self) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        line = {"source": self.crawler.spider.name if self.crawler.spider else "",
                "started_cpu": self.started[0], "started_wall": self.started[1],
                "closed_cpu": time.process_time(), "closed_wall": time.time(),
                "response_bytes": stats.get("downloader/response_bytes", 0),
                "responses": stats.get("downloader/response_count", 0),
                "not_modified": stats.get("kuroshio/not_modified", 0)}
        with self.record.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(line) + "\n")
