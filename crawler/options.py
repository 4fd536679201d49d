"""The crawler's options: `[crawl]`, politeness and limits shared by every source, and each
`[[sources]]` entry's where and how. When a source is crawled is the scheduler's business
(`kuroshio.scheduler.options.SourceSchedule`), and which articles matter is each topic's.

Declared once: a field's type, default and `metadata["help"]` are what the config loader
(`kuroshio.scheduler.config`) validates a file against and what the README's settings table is made from.
A number's allowed range is declared beside it (`metadata["minimum"]`, `["above"]`, `["maximum"]`; a
duration's bounds written as durations), so a value that would validate but break the crawl (no
parallel request, a negative timeout) is refused at load with the range, and the table shows the range.
`problems()` names what a well-typed value can still get wrong, as (key, problem) pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.crawler.scorer import ScorerError
from kuroshio.crawler.topics import DEFAULT_MIN_SCORE, Topic
from kuroshio.storage.query import QuerySyntaxError

DEFAULT_USER_AGENT = "Kuroshio/0.1 (scheduled news monitor; set crawl.user_agent to add your contact)"
# Three days: the window only matters on a source's first crawl and after an outage (every later crawl
# finds the new links in minutes), and it covers a daemon down over a long weekend. A wire's three days
# are about a hundred articles, where its archive's sitemaps hold tens of thousands.
DEFAULT_MAX_AGE = "3d"
# At the default politeness (about a page a second) 500 pages take under ten minutes: inside the daemon's
# 20-minute crawl timeout, and several times what a big wire publishes in the window.
DEFAULT_MAX_PAGES = 500
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds in a duration like "90s", "15m", "2h", "1d" (the crawler's `max_age`, the scheduler's
    intervals: parsed here, in the lowest part that has one)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if match is None:
        raise ValueError(f"expected a duration like 30s, 15m, 2h or 1d, got {value!r}")
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def duration_option(written: str, help: str, *, minimum: str) -> Any:
    """A duration option: written as "30m" in TOML (and the README), held in seconds; `minimum` is the
    shortest allowed, written as a duration too."""
    return field(default=parse_duration(written), metadata={
        "help": help, "parse": parse_duration, "written": written, "minimum": minimum})


@dataclass(frozen=True)
class CrawlConfig:
    """`[crawl]`: politeness and limits shared by every source's crawl."""

    user_agent: str = field(default=DEFAULT_USER_AGENT, metadata={"help": "User-Agent sent with every request."})
    obey_robots: bool = field(default=True, metadata={"help": "Obey robots.txt (Scrapy's ROBOTSTXT_OBEY)."})
    download_delay: float = field(default=1.0, metadata={
        "help": "Seconds between requests to one domain (AutoThrottle's floor).", "minimum": 0})
    # 0 would never send a request: the crawl waits until its time limit (found by issue #13).
    concurrent_per_domain: int = field(default=2, metadata={"help": "Parallel requests to one domain.", "minimum": 1})
    autothrottle: bool = field(
        default=True, metadata={"help": "Adapt the delay to the server's latency (Scrapy AutoThrottle)."})
    # Scrapy asserts a positive DOWNLOAD_TIMEOUT inside each download: a bad one failed every request.
    timeout: float = field(default=30.0, metadata={"help": "Seconds before a request is abandoned.", "above": 0})
    retry_times: int = field(default=2, metadata={
        "help": "Retries of a transient failure (5xx, timeouts, dropped connections).", "minimum": 0})
    retry_backoff: float = field(default=1.0, metadata={
        "help": "Seconds before the first retry of a host's transient failure; doubled each retry.", "minimum": 0})
    max_retry_after: float = field(default=300.0, metadata={
        "help": "Longest 429/503 Retry-After waited for; past it, the host's pages are deferred to the next crawl.",
        "minimum": 0})
    max_crawl_delay: float = field(default=30.0, metadata={
        "help": "Cap on a robots.txt Crawl-delay (a capped one is logged).", "minimum": 0})
    max_page_bytes: int = field(default=5 * 1024 * 1024, metadata={
        "help": "Largest response accepted; larger ones are cancelled.", "minimum": 1})
    proxy: str = field(default="", metadata={
        "help": "HTTP proxy for every request (the bundled fixture web is reached this way)."})
    extraction_workers: int = field(default=0, metadata={
        "help": "Processes extracting articles beside each crawl; 0: in the crawl's own process.", "minimum": 0})
    max_age: float = duration_option(
        DEFAULT_MAX_AGE, "Lookback window: a link its feed or sitemap dates older than this is not fetched; 0d: no window.",
        minimum="0d")
    max_pages: int = field(default=DEFAULT_MAX_PAGES, metadata={
        "help": "Most pages one source's crawl requests (feeds, sitemaps, listings, articles); "
                "reaching it ends discovery, noted in the run; 0: no cap.", "minimum": 0})
    scrapy_settings: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra Scrapy settings laid over Kuroshio's (e.g. your own EXTENSIONS); for experts."})


@dataclass(frozen=True)
class SourceConfig:
    """One `[[sources]]` entry: where a publisher's articles are discovered and how they are read."""

    name: str = field(metadata={"help": "Unique name of the source, used in runs and `--source`."})
    feeds: tuple[str, ...] = field(default=(), metadata={"help": "RSS 2.0 or Atom feed URLs."})
    sitemaps: tuple[str, ...] = field(
        default=(), metadata={"help": "Sitemap or news sitemap URLs (sitemap indexes are followed)."})
    listing_pages: tuple[str, ...] = field(
        default=(), metadata={"help": "Section or home pages scanned for article links."})
    article_url_pattern: str = field(default="", metadata={
        "help": "Regex an article link must match (required to follow listing-page links)."})
    allowed_domains: tuple[str, ...] = field(default=(), metadata={
        "help": "Domains articles may live on; default: hosts of feeds, sitemaps, listing pages."})
    robots_sitemaps: bool = field(default=True, metadata={
        "help": "Also discover from the Sitemap: lines of each allowed domain's robots.txt."})
    publisher: str = field(default="", metadata={
        "help": "Built-in publisher rules to apply (focus-taiwan, kyodo, taiwan-news); empty: generic extraction."})

    @property
    def discovery_urls(self) -> tuple[str, ...]:
        """Every URL the source is configured to start from."""
        return self.feeds + self.sitemaps + self.listing_pages

    @property
    def domains(self) -> tuple[str, ...]:
        """Allowed domains as configured, or the hosts of the discovery URLs."""
        if self.allowed_domains:
            return self.allowed_domains
        hosts = (urlsplit(url).hostname for url in self.discovery_urls)
        return tuple(dict.fromkeys(host for host in hosts if host))

    def problems(self) -> Iterator[tuple[str, str]]:
        """What is wrong with this source beyond its keys' types, as (key, problem); "" names the entry."""
        if not self.discovery_urls:
            yield "", "a source needs at least one of feeds, sitemaps, listing_pages"
        for url in self.discovery_urls:
            if urlsplit(url).scheme not in ("http", "https"):
                yield "", f"expected an http(s) URL, got {url!r}"
        if self.listing_pages and not self.article_url_pattern:
            yield "article_url_pattern", "required when listing_pages are given"
        try:
            re.compile(self.article_url_pattern)
        except re.error as error:
            yield "article_url_pattern", f"not a valid regular expression: {error}"
        if self.publisher and self.publisher not in PUBLISHERS:
            yield "publisher", f"unknown publisher (known: {', '.join(PUBLISHERS)})"


@dataclass(frozen=True)
class TopicConfig:
    """One `[[topics]]` entry: a named boolean query and the score a match must reach."""

    name: str = field(metadata={"help": "Unique topic name."})
    query: str = field(metadata={"help": "Boolean query: AND, OR, NOT, parentheses, \"phrases\", prefix*, @Country."})
    min_score: float = field(default=DEFAULT_MIN_SCORE, metadata={
        "help": "Minimum score for a match, so a passing mention does not count.", "above": 0})
    scorer: str = field(default="", metadata={
        "help": "A learned second stage trained for this very query: a shipped one by name, or the .json "
                "file benchmarks/train_scorer.py wrote. It vetoes matches it reads as off topic and admits "
                "refused articles naming every side that it reads as on topic. Default: none."})

    def problems(self) -> Iterator[tuple[str, str]]:
        """A query that does not parse, with the position of the error; a scorer that cannot serve it."""
        try:
            Topic.from_config(self.name, self.query, float(self.min_score))  # its parse is kept for the crawl
        except QuerySyntaxError as error:
            yield "query", str(error)
            return
        try:
            self.topic()
        except ScorerError as error:
            yield "scorer", str(error)

    def topic(self) -> Topic:
        """The parsed topic the crawler matches articles against."""
        return Topic.from_config(self.name, self.query, float(self.min_score), scorer=self.scorer or None)
