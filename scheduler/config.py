"""Kuroshio's configuration: one TOML file, validated against settings declared once.

Every key is declared in `SECTIONS` (name, type, default, help); validation, error messages and the
README's settings table all derive from that declaration. Precedence: built-in defaults → the config
file (`--config FILE` or `KUROSHIO_CONFIG`) → environment (`KUROSHIO_DATABASE_URL`) → command-line
flags. `[[sources]]` and `[[topics]]` in a file replace the built-in lists whole: a user who lists
sources wants exactly those, not ours merged in.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.topics import DEFAULT_MIN_SCORE, DEFAULT_TOPIC_QUERY, QuerySyntaxError, Topic
from storage.engine import default_database_url

DEFAULT_USER_AGENT = "Kuroshio/0.1 (scheduled news monitor; set crawl.user_agent to add your contact)"


class ConfigError(Exception):
    """A configuration problem, worded as one line naming the file and the key."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type, its default and what it is for."""

    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    required: bool = False


SOURCE_SETTINGS = (
    Setting("name", str, None, "Unique name of the source, used in runs and `--source`.", required=True),
    Setting("feeds", list, [], "RSS 2.0 or Atom feed URLs."),
    Setting("sitemaps", list, [], "Sitemap or news sitemap URLs (sitemap indexes are followed)."),
    Setting("listing_pages", list, [], "Section or home pages scanned for article links."),
    Setting("article_url_pattern", str, "", "Regex an article link must match (required to follow listing-page links)."),
    Setting("allowed_domains", list, [], "Domains articles may live on; default: hosts of feeds, sitemaps, listing pages."),
    Setting("robots_sitemaps", bool, True, "Also discover from the Sitemap: lines of each allowed domain's robots.txt."),
    Setting("publisher", str, "", "Built-in publisher rules to apply (focus-taiwan, kyodo, taiwan-news); empty: generic extraction."),
)

TOPIC_SETTINGS = (
    Setting("name", str, None, "Unique topic name.", required=True),
    Setting("query", str, None, "Boolean query: AND, OR, NOT, parentheses, \"phrases\", prefix*.", required=True),
    Setting("min_score", (int, float), DEFAULT_MIN_SCORE, "Minimum score for a match, so a passing mention does not count."),
)

STORAGE_SETTINGS = (
    Setting("url", str, "", "SQLAlchemy database URL; default: SQLite in the per-user data folder."),
)

CRAWL_SETTINGS = (
    Setting("user_agent", str, DEFAULT_USER_AGENT, "User-Agent sent with every request."),
    Setting("obey_robots", bool, True, "Obey robots.txt (Scrapy's ROBOTSTXT_OBEY)."),
    Setting("download_delay", (int, float), 1.0, "Seconds between requests to one domain (AutoThrottle's floor)."),
    Setting("concurrent_per_domain", int, 2, "Parallel requests to one domain."),
    Setting("autothrottle", bool, True, "Adapt the delay to the server's latency (Scrapy AutoThrottle)."),
    Setting("timeout", (int, float), 30.0, "Seconds before a request is abandoned."),
    Setting("retry_times", int, 2, "Retries of a transient failure (5xx, timeouts, dropped connections)."),
    Setting("max_page_bytes", int, 5 * 1024 * 1024, "Largest response accepted; larger ones are cancelled."),
    Setting("proxy", str, "", "HTTP proxy for every request (the bundled fixture web is reached this way)."),
)

SECTIONS = {"storage": STORAGE_SETTINGS, "crawl": CRAWL_SETTINGS}
LIST_SECTIONS = {"sources": SOURCE_SETTINGS, "topics": TOPIC_SETTINGS}


@dataclass(frozen=True)
class SourceConfig:
    """Where and how one publisher is crawled."""

    name: str
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    listing_pages: tuple[str, ...] = ()
    article_url_pattern: str = ""
    allowed_domains: tuple[str, ...] = ()
    robots_sitemaps: bool = True
    publisher: str = ""

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


@dataclass(frozen=True)
class CrawlConfig:
    """Politeness and limits shared by every source's crawl."""

    user_agent: str
    obey_robots: bool
    download_delay: float
    concurrent_per_domain: int
    autothrottle: bool
    timeout: float
    retry_times: int
    max_page_bytes: int
    proxy: str

    @classmethod
    def defaults(cls) -> CrawlConfig:
        """The declared defaults of every `[crawl]` key."""
        return cls(**{setting.name: setting.default for setting in CRAWL_SETTINGS})


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    storage_url: str
    sources: tuple[SourceConfig, ...]
    topics: tuple[Topic, ...]
    crawl: CrawlConfig = field(default_factory=CrawlConfig.defaults)
    path: Path | None = None

    def select_sources(self, names: tuple[str, ...]) -> tuple[SourceConfig, ...]:
        """The sources named (all when none are), or ConfigError naming an unknown one."""
        if not names:
            return self.sources
        by_name = {source.name: source for source in self.sources}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            known = ", ".join(by_name) or "none"
            raise ConfigError(f"unknown source {unknown[0]!r} (configured: {known})")
        return tuple(by_name[name] for name in names)


BUILTIN_SOURCES = (
    SourceConfig(
        name="focus-taiwan",
        feeds=("https://feeds.feedburner.com/rsscna/engnews",),
        article_url_pattern=r"^https?://focustaiwan\.tw/[a-z-]+/\d{12}$",
        allowed_domains=("focustaiwan.tw",),
        publisher="focus-taiwan",
    ),
    SourceConfig(
        name="kyodo",
        listing_pages=("https://english.kyodonews.net/", "https://english.kyodonews.net/news/asia"),
        article_url_pattern=r"/articles/-/\d+",
        allowed_domains=("english.kyodonews.net",),
        publisher="kyodo",
    ),
    SourceConfig(
        name="taiwan-news",
        listing_pages=("https://www.taiwannews.com.tw/en/", "https://www.taiwannews.com.tw/en/politics"),
        article_url_pattern=r"/(en/)?news/\d+$",
        allowed_domains=("www.taiwannews.com.tw",),
        publisher="taiwan-news",
    ),
)


def builtin_config() -> Config:
    """The configuration used when no file is given: the three real publishers, one topic."""
    return Config(
        storage_url=default_database_url(),
        sources=BUILTIN_SOURCES,
        topics=(Topic.from_config("taiwan-japan", DEFAULT_TOPIC_QUERY),),
    )


def load_config(path: Path | str | None = None) -> Config:
    """Built-in defaults, overlaid by the file at `path` (or $KUROSHIO_CONFIG), then the environment."""
    config = builtin_config()
    path = path or os.environ.get("KUROSHIO_CONFIG") or None
    if path is not None:
        config = _overlay_file(config, Path(path))
    database_url = os.environ.get("KUROSHIO_DATABASE_URL")
    if database_url:
        config = replace(config, storage_url=database_url)
    return config


def _overlay_file(config: Config, path: Path) -> Config:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return _Reader(path).overlay(config, document)


@dataclass
class _Reader:
    """Validates one parsed TOML document, naming `path` and the key in every error."""

    path: Path

    def overlay(self, config: Config, document: dict[str, Any]) -> Config:
        known = set(SECTIONS) | set(LIST_SECTIONS)
        for key in document:
            if key not in known:
                self.fail(key, f"unknown section (expected one of: {', '.join(sorted(known))})")
        storage = self.table(document, "storage", STORAGE_SETTINGS)
        crawl = self.table(document, "crawl", CRAWL_SETTINGS)
        config = replace(
            config,
            path=self.path,
            storage_url=self.storage_url(storage.get("url")) or config.storage_url,
            crawl=replace(config.crawl, **crawl),
        )
        if "sources" in document:
            config = replace(config, sources=self.sources(document["sources"]))
        if "topics" in document:
            config = replace(config, topics=self.topics(document["topics"]))
        return config

    def fail(self, key: str, problem: str) -> None:
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def table(self, document: dict[str, Any], key: str, settings: tuple[Setting, ...]) -> dict[str, Any]:
        table = document.get(key, {})
        if not isinstance(table, dict):
            self.fail(key, "expected a table ([" + key + "])")
        return self.values(key, table, settings, fill_defaults=False)

    def values(
        self, prefix: str, table: dict[str, Any], settings: tuple[Setting, ...], *, fill_defaults: bool
    ) -> dict[str, Any]:
        by_name = {setting.name: setting for setting in settings}
        for key in table:
            if key not in by_name:
                self.fail(f"{prefix}.{key}", f"unknown key (expected one of: {', '.join(by_name)})")
        values: dict[str, Any] = {}
        for setting in settings:
            key = f"{prefix}.{setting.name}"
            if setting.name not in table:
                if setting.required:
                    self.fail(key, "required key is missing")
                if fill_defaults:
                    default = setting.default
                    values[setting.name] = tuple(default) if isinstance(default, list) else default
                continue
            values[setting.name] = self.typed(key, table[setting.name], setting)
        return values

    def typed(self, key: str, value: Any, setting: Setting) -> Any:
        expected = setting.type if isinstance(setting.type, tuple) else (setting.type,)
        if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
            names = " or ".join(kind.__name__ for kind in expected)
            self.fail(key, f"expected {names}, got {type(value).__name__} {value!r}")
        if isinstance(value, list):
            for position, item in enumerate(value):
                if not isinstance(item, str) or not item:
                    self.fail(f"{key}[{position}]", f"expected a non-empty string, got {item!r}")
            return tuple(value)
        return value

    def storage_url(self, url: str | None) -> str | None:
        if url is not None and "://" not in url:
            self.fail("storage.url", f"expected a database URL like sqlite:////path/kuroshio.db, got {url!r}")
        return url

    def entries(self, key: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
            self.fail(key, f"expected an array of tables ([[{key}]])")
        return value

    def sources(self, value: Any) -> tuple[SourceConfig, ...]:
        sources = []
        for position, table in enumerate(self.entries("sources", value)):
            prefix = f"sources[{position}]"
            values = self.values(prefix, table, SOURCE_SETTINGS, fill_defaults=True)
            source = SourceConfig(**values)
            self.check_source(prefix, source)
            sources.append(source)
        self.check_unique("sources", [source.name for source in sources])
        return tuple(sources)

    def check_source(self, prefix: str, source: SourceConfig) -> None:
        from crawler.publishers import PUBLISHERS

        if not source.discovery_urls:
            self.fail(prefix, "a source needs at least one of feeds, sitemaps, listing_pages")
        for url in source.discovery_urls:
            if urlsplit(url).scheme not in ("http", "https"):
                self.fail(prefix, f"expected an http(s) URL, got {url!r}")
        if source.listing_pages and not source.article_url_pattern:
            self.fail(f"{prefix}.article_url_pattern", "required when listing_pages are given")
        try:
            re.compile(source.article_url_pattern)
        except re.error as error:
            self.fail(f"{prefix}.article_url_pattern", f"not a valid regular expression: {error}")
        if source.publisher and source.publisher not in PUBLISHERS:
            self.fail(f"{prefix}.publisher", f"unknown publisher (known: {', '.join(PUBLISHERS)})")

    def topics(self, value: Any) -> tuple[Topic, ...]:
        topics = []
        for position, table in enumerate(self.entries("topics", value)):
            prefix = f"topics[{position}]"
            values = self.values(prefix, table, TOPIC_SETTINGS, fill_defaults=True)
            try:
                topics.append(Topic.from_config(values["name"], values["query"], float(values["min_score"])))
            except QuerySyntaxError as error:
                self.fail(f"{prefix}.query", str(error))
        self.check_unique("topics", [topic.name for topic in topics])
        return tuple(topics)

    def check_unique(self, key: str, names: list[str]) -> None:
        seen: set[str] = set()
        for position, name in enumerate(names):
            if name in seen:
                self.fail(f"{key}[{position}].name", f"duplicate name {name!r}")
            seen.add(name)


def settings_reference() -> str:
    """The settings table for the README, derived from the declarations above."""
    lines = ["| key | type | default | what it does |", "| --- | --- | --- | --- |"]
    tables = {**SECTIONS, **{f"{name}[]": settings for name, settings in LIST_SECTIONS.items()}}
    for section, settings in tables.items():
        for setting in settings:
            kinds = setting.type if isinstance(setting.type, tuple) else (setting.type,)
            type_name = "/".join(kind.__name__ for kind in kinds)
            default = "required" if setting.required else repr(setting.default)
            lines.append(f"| `{section}.{setting.name}` | {type_name} | {default} | {setting.help} |")
    return "\n".join(lines)

