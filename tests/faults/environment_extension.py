"""A Scrapy extension that writes the crawl process's environment to a file, for the secrets tests.

Enabled through `[crawl] scrapy_settings` (EXTENSIONS), with `ENVIRONMENT_RECORD` naming the JSON file:
what a crawl process started by the daemon can read of its environment, seen from inside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scrapy.crawler import Crawler


class RecordEnvironment:
    """Writes `os.environ` to `ENVIRONMENT_RECORD` when the crawler is built (whole, or not at all)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordEnvironment:
        record = Path(crawler.settings["ENVIRONMENT_RECORD"])
        partial = record.with_name(record.name + ".partial")
        partial.write_text(json.dumps(dict(os.environ)), encoding="utf-8")
        partial.replace(record)
        return cls()
