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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kuroshio.crawler.topics import DEFAULT_MIN_SCORE, DEFAULT_TOPIC_QUERY, QuerySyntaxError, Topic
from kuroshio.storage.engine import default_database_url

DEFAULT_USER_AGENT = "Kuroshio/0.1 (scheduled news monitor; set crawl.user_agent to add your contact)"


class ConfigError(Exception):
    """A configuration problem, worded as one line naming the file and the key."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type, its default and what it is for.

    `parse` turns a well-typed value into what the program uses (a duration into seconds) and raises
    ValueError with what was expected when the value is wrong; defaults go through it too.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    required: bool = False
    parse: Callable[[Any], Any] | None = None


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds in a duration like "90s", "15m", "2h", "1d"."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if match is None:
        raise ValueError(f"expected a duration like 30s, 15m, 2h or 1d, got {value!r}")
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def parse_optional_duration(value: str) -> float | None:
    """A duration, or None for the empty string (meaning: use the default)."""
    return parse_duration(value) if value else None


def parse_cron(value: str) -> str:
    """A five-field crontab expression, checked by APScheduler's own parser."""
    if not value:
        return value
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as error:
        raise ValueError(f"expected a crontab expression like '*/15 * * * *', got {value!r} ({error})") from None
    return value


def parse_timezone(value: str) -> str:
    """An IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone like Asia/Taipei, got {value!r}") from None
    return value


def non_negative(value: int) -> int:
    if value < 0:
        raise ValueError(f"expected 0 or more, got {value}")
    return value


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser accepting only `choices`."""

    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


SOURCE_SETTINGS = (
    Setting("name", str, None, "Unique name of the source, used in runs and `--source`.", required=True),
    Setting("feeds", list, [], "RSS 2.0 or Atom feed URLs."),
    Setting("sitemaps", list, [], "Sitemap or news sitemap URLs (sitemap indexes are followed)."),
    Setting("listing_pages", list, [], "Section or home pages scanned for article links."),
    Setting("article_url_pattern", str, "", "Regex an article link must match (required to follow listing-page links)."),
    Setting("allowed_domains", list, [], "Domains articles may live on; default: hosts of feeds, sitemaps, listing pages."),
    Setting("robots_sitemaps", bool, True, "Also discover from the Sitemap: lines of each allowed domain's robots.txt."),
    Setting("publisher", str, "", "Built-in publisher rules to apply (focus-taiwan, kyodo, taiwan-news); empty: generic extraction."),
    Setting("every", str, "", "Crawl interval for the daemon, e.g. 15m; default: daemon.every.", parse=parse_optional_duration),
    Setting("cron", str, "", "Crawl schedule as a crontab expression instead of `every`.", parse=parse_cron),
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
    Setting("retry_backoff", (int, float), 1.0, "Seconds before the first retry of a host's transient failure; doubled each retry."),
    Setting("max_retry_after", (int, float), 300.0, "Longest 429/503 Retry-After waited for; past it, the host's pages are deferred to the next crawl."),
    Setting("max_crawl_delay", (int, float), 30.0, "Cap on a robots.txt Crawl-delay (a capped one is logged)."),
    Setting("max_page_bytes", int, 5 * 1024 * 1024, "Largest response accepted; larger ones are cancelled."),
    Setting("proxy", str, "", "HTTP proxy for every request (the bundled fixture web is reached this way)."),
    Setting("extraction_workers", int, 0, "Processes extracting articles beside each crawl; 0: in the crawl's own process.", parse=non_negative),
    Setting("scrapy_settings", dict, {}, "Extra Scrapy settings laid over Kuroshio's (e.g. your own EXTENSIONS); for experts."),
)

DAEMON_SETTINGS = (
    Setting("every", str, "30m", "Default crawl interval of a source without its own schedule.", parse=parse_duration),
    Setting("misfire_grace", str, "1h", "A run missed (daemon down) by less than this is caught up once at start.", parse=parse_duration),
    Setting("crawl_timeout", str, "20m", "A crawl running longer is ended and recorded as failed.", parse=parse_duration),
    Setting("shutdown_grace", str, "30s", "On SIGTERM, how long a running crawl may take to finish.", parse=parse_duration),
    Setting("heartbeat", str, "10s", "How often the daemon records that it is alive.", parse=parse_duration),
)

SMTP_SETTINGS = (
    Setting("host", str, "127.0.0.1", "SMTP server host."),
    Setting("port", int, 25, "SMTP server port."),
    Setting("security", str, "none", "Transport security: none, starttls or ssl.", parse=one_of("none", "starttls", "ssl")),
    Setting("username", str, "", "SMTP login; empty: no authentication."),
    Setting("password_env", str, "KUROSHIO_SMTP_PASSWORD", "Environment variable holding the SMTP password (never the file)."),
    Setting("sender", str, "Kuroshio <kuroshio@localhost>", "From address of digests."),
    Setting("timeout", (int, float), 30.0, "Seconds before an SMTP connection is abandoned."),
)

DIGEST_SETTINGS = (
    Setting("name", str, None, "Unique digest name.", required=True),
    Setting("topics", list, [], "Topics the digest covers; default: every topic."),
    Setting("to", list, None, "Recipient addresses.", required=True),
    Setting("cron", str, "0 8 * * *", "When the daemon sends it (crontab expression).", parse=parse_cron),
    Setting("timezone", str, "UTC", "Time zone of `cron` and of the times shown in the digest.", parse=parse_timezone),
    Setting("subject", str, "Kuroshio {name}: {articles}", "Subject template: {name}, {count}, {articles} (\"3 new articles\"), {topics}, {date}."),
    Setting("send_empty", bool, False, "Send a digest even when nothing is new."),
    Setting("max_articles", int, 200, "Most articles in one digest; the rest are counted in a closing line."),
)

SECTIONS = {"storage": STORAGE_SETTINGS, "crawl": CRAWL_SETTINGS, "daemon": DAEMON_SETTINGS, "smtp": SMTP_SETTINGS}
LIST_SECTIONS = {"sources": SOURCE_SETTINGS, "topics": TOPIC_SETTINGS, "digests": DIGEST_SETTINGS}


def _declared_defaults(settings: tuple[Setting, ...]) -> dict[str, Any]:
    return {setting.name: setting.parse(setting.default) if setting.parse else setting.default for setting in settings}


class _Section:
    """A config table whose every key is declared in `SETTINGS`."""

    SETTINGS: ClassVar[tuple[Setting, ...]]

    @classmethod
    def defaults(cls) -> Self:
        """The declared (and parsed) default of every key."""
        return cls(**_declared_defaults(cls.SETTINGS))


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
    every: float | None = None
    cron: str = ""

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
class CrawlConfig(_Section):
    """Politeness and limits shared by every source's crawl."""

    SETTINGS: ClassVar[tuple[Setting, ...]] = CRAWL_SETTINGS
    user_agent: str
    obey_robots: bool
    download_delay: float
    concurrent_per_domain: int
    autothrottle: bool
    timeout: float
    retry_times: int
    retry_backoff: float
    max_retry_after: float
    max_crawl_delay: float
    max_page_bytes: int
    proxy: str
    extraction_workers: int
    scrapy_settings: dict[str, Any]



@dataclass(frozen=True)
class DaemonConfig(_Section):
    """Scheduling of the long-running daemon; durations in seconds."""

    SETTINGS: ClassVar[tuple[Setting, ...]] = DAEMON_SETTINGS
    every: float
    misfire_grace: float
    crawl_timeout: float
    shutdown_grace: float
    heartbeat: float



@dataclass(frozen=True)
class SmtpConfig(_Section):
    """How digests reach the mail server; the password is read from `password_env` when sending."""

    SETTINGS: ClassVar[tuple[Setting, ...]] = SMTP_SETTINGS
    host: str
    port: int
    security: str
    username: str
    password_env: str
    sender: str
    timeout: float



@dataclass(frozen=True)
class DigestConfig:
    """One digest email: which topics, to whom, when."""

    name: str
    topics: tuple[str, ...]
    to: tuple[str, ...]
    cron: str
    timezone: str
    subject: str
    send_empty: bool
    max_articles: int


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    storage_url: str
    sources: tuple[SourceConfig, ...]
    topics: tuple[Topic, ...]
    crawl: CrawlConfig = field(default_factory=CrawlConfig.defaults)
    daemon: DaemonConfig = field(default_factory=DaemonConfig.defaults)
    smtp: SmtpConfig = field(default_factory=SmtpConfig.defaults)
    digests: tuple[DigestConfig, ...] = ()
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
        config = replace(
            config,
            path=self.path,
            storage_url=self.storage_url(storage.get("url")) or config.storage_url,
            crawl=replace(config.crawl, **self.table(document, "crawl", CRAWL_SETTINGS)),
            daemon=replace(config.daemon, **self.table(document, "daemon", DAEMON_SETTINGS)),
            smtp=replace(config.smtp, **self.table(document, "smtp", SMTP_SETTINGS)),
        )
        if "sources" in document:
            config = replace(config, sources=self.sources(document["sources"]))
        if "topics" in document:
            config = replace(config, topics=self.topics(document["topics"]))
        if "digests" in document:
            config = replace(config, digests=self.digests(document["digests"], config.topics))
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
                    default = _declared_defaults((setting,))[setting.name]
                    values[setting.name] = tuple(default) if isinstance(default, list) else default
                continue
            value = self.typed(key, table[setting.name], setting)
            if setting.parse is not None:
                try:
                    value = setting.parse(value)
                except ValueError as error:
                    self.fail(key, str(error))
            values[setting.name] = value
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
        from kuroshio.crawler.publishers import PUBLISHERS

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
        if source.every is not None and source.cron:
            self.fail(f"{prefix}.cron", "give either every or cron, not both")

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


    def digests(self, value: Any, topics: tuple[Topic, ...]) -> tuple[DigestConfig, ...]:
        known_topics = [topic.name for topic in topics]
        digests = []
        for position, table in enumerate(self.entries("digests", value)):
            prefix = f"digests[{position}]"
            digest = DigestConfig(**self.values(prefix, table, DIGEST_SETTINGS, fill_defaults=True))
            for topic in digest.topics:
                if topic not in known_topics:
                    self.fail(f"{prefix}.topics", f"unknown topic {topic!r} (configured: {', '.join(known_topics)})")
            for address in digest.to:
                if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
                    self.fail(f"{prefix}.to", f"expected an email address like analyst@example.org, got {address!r}")
            if not digest.to:
                self.fail(f"{prefix}.to", "at least one recipient is needed")
            digests.append(digest)
        self.check_unique("digests", [digest.name for digest in digests])
        return tuple(digests)


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

