"""Kuroshio's configuration: one TOML file, validated against the options each part declares once.

Each part owns the shape of its options as a frozen dataclass whose fields carry their type, default
and help (`metadata["help"]`): `kuroshio.storage.options` (`[storage]`), `kuroshio.crawler.options`
(`[crawl]`, `[[sources]]`, `[[topics]]`), `kuroshio.digest.options` (`[smtp]`, `[[digests]]`) and
`kuroshio.scheduler.options` (`[daemon]`, and the schedule keys of sources and digests). This module
only assembles them: validation, the one-line error messages and the README's settings table are all
derived from those declarations.

A field is read from TOML by its type: str, bool, int, float (an int is accepted), a tuple of strings
(a TOML array of non-empty strings), a dict (a table), or a Literal (one of its strings).
`metadata["parse"]` turns a string into what the program uses (a duration into seconds) and raises
ValueError saying what was expected; `metadata["minimum"]`, `["above"]` and `["maximum"]` bound a number
(a duration's bounds are written as durations), and a bad one is refused with the allowed range, which the
README's table shows too; NaN and infinity are no number any option takes. An option class's
`problems()` names what well-typed values can still get wrong.

Precedence: built-in defaults → the config file (`--config FILE` or `KUROSHIO_CONFIG`) → environment
(`KUROSHIO_DATABASE_URL`) → command-line flags. `[[sources]]` and `[[topics]]` in a file replace the
built-in lists whole: a user who lists sources wants exactly those, not ours merged in.

The database URL is checked at load as well (`kuroshio.storage.engine.url_problem`): a dialect SQLAlchemy
lacks, a SQLite URL naming a host, a driver not installed are one line saying what to write or install.

Secrets: the database password is put into a URL that has none from `$KUROSHIO_DATABASE_PASSWORD`
(`storage.password_env`), as the SMTP password is read from `smtp.password_env`; a config file whose
storage.url holds a password and that others than its owner may read is warned about at load, in a line.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
import os
import stat
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import ArgumentError

from kuroshio.crawler.options import CrawlConfig, SourceConfig, TopicConfig
from kuroshio.crawler.topics import Topic, default_topics
from kuroshio.digest.options import DigestConfig, SmtpConfig
from kuroshio.scheduler.options import DaemonConfig, DigestSchedule, ScaleConfig, SourceSchedule
from kuroshio.storage.engine import default_database_url, url_password, url_problem, url_with_password
from kuroshio.storage.options import StorageConfig

logger = logging.getLogger(__name__)


class ConfigError(Exception):
    """A configuration problem, worded as one line naming the file and the key."""


# Each TOML table and the option classes that declare its keys (a list section's entries may be
# declared by several parts: a source's crawl options by the crawler, its schedule by the scheduler).
SECTIONS: dict[str, type] = {"storage": StorageConfig, "crawl": CrawlConfig, "daemon": DaemonConfig,
                             "smtp": SmtpConfig, "scale": ScaleConfig}
LIST_SECTIONS: dict[str, tuple[type, ...]] = {
    "sources": (SourceConfig, SourceSchedule),
    "topics": (TopicConfig,),
    "digests": (DigestConfig, DigestSchedule),
}


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    storage_url: str  # the database to open: storage.url or $KUROSHIO_DATABASE_URL, its password put in
    sources: tuple[SourceConfig, ...]
    topics: tuple[Topic, ...]
    storage: StorageConfig = field(default_factory=StorageConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    digests: tuple[DigestConfig, ...] = ()
    source_schedules: Mapping[str, SourceSchedule] = field(default_factory=dict)
    digest_schedules: Mapping[str, DigestSchedule] = field(default_factory=dict)
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

    def source_schedule(self, name: str) -> SourceSchedule:
        """When source `name` is crawled (the default schedule when it sets none)."""
        return self.source_schedules.get(name) or SourceSchedule()

    def digest_schedule(self, name: str) -> DigestSchedule:
        """When digest `name` is sent."""
        return self.digest_schedules.get(name) or DigestSchedule()

    @property
    def topic_names(self) -> tuple[str, ...]:
        """Every configured topic's name, in order."""
        return tuple(topic.name for topic in self.topics)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Every configured source's name, in order."""
        return tuple(source.name for source in self.sources)


# The real publishers as they serve today (see crawler/publishers/ for their markup): Focus Taiwan's
# FeedBurner feed; Kyodo's live feed (its old /rss/news.xml answers 404) and home page; Taiwan News's
# sections and English sitemap (it has no feed). Article patterns are anchored to the publisher's host,
# so a link elsewhere, or to another edition (taiwannews.com.tw/zh/), is no article of the source; a
# query may follow the path (tracking parameters are gone by then, others can name the same story).
BUILTIN_SOURCES = (
    SourceConfig(
        name="focus-taiwan",
        feeds=("https://feeds.feedburner.com/rsscna/engnews",),
        article_url_pattern=r"^https?://focustaiwan\.tw/[a-z-]+/\d{12}(?:\?.*)?$",
        allowed_domains=("focustaiwan.tw",),
        publisher="focus-taiwan",
    ),
    SourceConfig(
        name="kyodo",
        feeds=("https://english.kyodonews.net/list/feed/rss4kyodonews-fzone",),
        listing_pages=("https://english.kyodonews.net/",),
        # /articles/-/<id> since 2025; /news/YYYY/MM/<hash>-<slug>.html before.
        article_url_pattern=r"^https?://english\.kyodonews\.net/(?:articles/-/\d+|news/\d{4}/\d{2}/[0-9a-f]+-[\w-]+\.html)(?:\?.*)?$",
        allowed_domains=("english.kyodonews.net",),
        publisher="kyodo",
    ),
    SourceConfig(
        name="taiwan-news",
        sitemaps=("https://www.taiwannews.com.tw/sitemap_en.xml",),
        listing_pages=("https://www.taiwannews.com.tw/category/Politics", "https://www.taiwannews.com.tw/category/World"),
        # /news/<id> since 2024; /en/news/<id> before.
        article_url_pattern=r"^https?://www\.taiwannews\.com\.tw/(?:en/)?news/\d+(?:\?.*)?$",
        allowed_domains=("www.taiwannews.com.tw",),
        publisher="taiwan-news",
    ),
)


def builtin_config() -> Config:
    """The configuration used when no file is given: the three real publishers, one topic."""
    return Config(
        storage_url=default_database_url(),
        sources=BUILTIN_SOURCES,
        topics=tuple(default_topics()),  # parsed when first matched: an unchanged poll never is
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
    problem = url_problem(config.storage_url)
    if problem is not None:
        where = "$KUROSHIO_DATABASE_URL" if database_url else f"{config.path}: storage.url"
        raise ConfigError(f"{where}: {problem}")
    password = os.environ.get(config.storage.password_env)
    if password:
        config = replace(config, storage_url=url_with_password(config.storage_url, password))
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
    config = _Reader(path).overlay(config, document)
    _warn_if_others_read_password(path, config.storage)
    return config


def _warn_if_others_read_password(path: Path, storage: StorageConfig) -> None:
    """One warning line when the file holds the database password and its group or others may read it."""
    try:
        has_password = bool(storage.url) and url_password(storage.url) is not None
    except (ArgumentError, ValueError):  # no URL: nothing to protect, and load_config names the problem
        return
    mode = path.stat().st_mode
    if has_password and mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning("%s holds the database password (storage.url) and is readable by others than its owner "
                       "(mode %03o): chmod 600 it, or keep the password in $%s instead", path,
                       stat.S_IMODE(mode), storage.password_env)


def declared_options(options: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """The fields an option class declares, each with its resolved type."""
    hints = typing.get_type_hints(options)
    return [(declared, hints[declared.name]) for declared in dataclasses.fields(options)]


def _required(declared: dataclasses.Field[Any]) -> bool:
    return declared.default is dataclasses.MISSING and declared.default_factory is dataclasses.MISSING


# The bounds an option may declare: metadata key → (how the range reads, the test a value must pass).
BOUNDS: dict[str, tuple[str, Any]] = {"minimum": ("at least", operator.ge), "above": ("more than", operator.gt),
                                      "maximum": ("at most", operator.le)}


def allowed_range(option: dataclasses.Field[Any]) -> str:
    """The bounds `option` declares, as they read in an error and in the README: "at least 1",
    "more than 0", "from 1 to 65535", "at least 1s"; "" when it declares none."""
    declared = {key: option.metadata[key] for key in BOUNDS if key in option.metadata}
    if declared.keys() == {"minimum", "maximum"}:
        return f"from {declared['minimum']} to {declared['maximum']}"
    return ", ".join(f"{BOUNDS[key][0]} {bound}" for key, bound in declared.items())


def _within_bounds(option: dataclasses.Field[Any], value: Any) -> bool:
    """Whether a parsed `value` passes every bound `option` declares (bounds parsed as the value was)."""
    parse = option.metadata.get("parse")
    for key, (_, passes) in BOUNDS.items():
        bound = option.metadata.get(key)
        if bound is not None and not passes(value, parse(bound) if parse and isinstance(bound, str) else bound):
            return False
    return True


@dataclass
class _Reader:
    """Validates one parsed TOML document, naming `path` and the key in every error."""

    path: Path

    def overlay(self, config: Config, document: dict[str, Any]) -> Config:
        known = set(SECTIONS) | set(LIST_SECTIONS)
        for key in document:
            if key not in known:
                self.fail(key, f"unknown section (expected one of: {', '.join(sorted(known))})")
        storage, crawl, daemon, smtp, scale = (self.section(document, name) for name in SECTIONS)
        config = replace(config, path=self.path, storage_url=storage.url or config.storage_url,
                         storage=storage, crawl=crawl, daemon=daemon, smtp=smtp, scale=scale)
        if "sources" in document:
            entries = self.entries(document, "sources")
            sources = tuple(entry[SourceConfig] for entry in entries)
            schedules = {source.name: entry[SourceSchedule] for source, entry in zip(sources, entries)}
            config = replace(config, sources=sources, source_schedules=schedules)
        if "topics" in document:
            config = replace(config, topics=tuple(entry[TopicConfig].topic()
                                                  for entry in self.entries(document, "topics")))
        if "digests" in document:
            entries = self.entries(document, "digests")
            digests = tuple(entry[DigestConfig] for entry in entries)
            for position, digest in enumerate(digests):
                for topic in digest.topics:
                    if topic not in config.topic_names:
                        self.fail(f"digests[{position}].topics",
                                  f"unknown topic {topic!r} (configured: {', '.join(config.topic_names)})")
            schedules = {digest.name: entry[DigestSchedule] for digest, entry in zip(digests, entries)}
            config = replace(config, digests=digests, digest_schedules=schedules)
        return config

    def fail(self, key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def section(self, document: dict[str, Any], name: str) -> Any:
        table = document.get(name, {})
        if not isinstance(table, dict):
            self.fail(name, f"expected a table ([{name}])")
        return self.build(name, table, (SECTIONS[name],))[SECTIONS[name]]

    def entries(self, document: dict[str, Any], name: str) -> list[dict[type, Any]]:
        """Each entry of the array of tables `name`, built into its option classes; names unique."""
        value = document[name]
        if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
            self.fail(name, f"expected an array of tables ([[{name}]])")
        entries = [self.build(f"{name}[{position}]", table, LIST_SECTIONS[name])
                   for position, table in enumerate(value)]
        seen: set[str] = set()
        for position, entry in enumerate(entries):
            entry_name = entry[LIST_SECTIONS[name][0]].name
            if entry_name in seen:
                self.fail(f"{name}[{position}].name", f"duplicate name {entry_name!r}")
            seen.add(entry_name)
        return entries

    def build(self, prefix: str, table: dict[str, Any], classes: tuple[type, ...]) -> dict[type, Any]:
        """`table` read into each of `classes` (every key must be declared by one of them)."""
        declared = {declared.name: (declared, hint) for options in classes for declared, hint in declared_options(options)}
        for key in table:
            if key not in declared:
                self.fail(f"{prefix}.{key}", f"unknown key (expected one of: {', '.join(declared)})")
        built: dict[type, Any] = {}
        for options in classes:
            values = {}
            for option, hint in declared_options(options):
                key = f"{prefix}.{option.name}"
                if option.name in table:
                    values[option.name] = self.value(key, table[option.name], option, hint)
                elif _required(option):
                    self.fail(key, "required key is missing")
            instance = options(**values)
            for key, problem in getattr(instance, "problems", lambda: ())():
                self.fail(f"{prefix}.{key}" if key else prefix, problem)
            built[options] = instance
        return built

    def value(self, key: str, value: Any, option: dataclasses.Field[Any], hint: Any) -> Any:
        """`value` checked against the option's type, then parsed and bounded as it declares."""
        parse = option.metadata.get("parse")
        expected = str if parse else hint
        origin, arguments = typing.get_origin(expected), typing.get_args(expected)
        if origin is typing.Literal:
            if value not in arguments:
                self.fail(key, f"expected one of {', '.join(arguments)}, got {value!r}")
        elif origin is tuple:
            if not isinstance(value, list):
                self.fail(key, f"expected list, got {type(value).__name__} {value!r}")
            for position, item in enumerate(value):
                if not isinstance(item, str) or not item:
                    self.fail(f"{key}[{position}]", f"expected a non-empty string, got {item!r}")
            value = tuple(value)
        else:
            kinds = {float: (int, float), dict: (dict,)}.get(origin or expected, (origin or expected,))
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                names = " or ".join(kind.__name__ for kind in kinds)
                self.fail(key, f"expected {names}, got {type(value).__name__} {value!r}")
            if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf
                self.fail(key, f"expected a finite number, got {value}")
        written = value
        if parse is not None:
            try:
                value = parse(value)
            except ValueError as error:
                self.fail(key, str(error))
        if value is not None and not _within_bounds(option, value):
            self.fail(key, f"must be {allowed_range(option)}, got {written!r}")
        return value


def _type_name(option: dataclasses.Field[Any], hint: Any) -> str:
    if "parse" in option.metadata:
        return "str"
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "str"
    if origin is tuple:
        return "list"
    if hint is float:
        return "int/float"
    return (origin or hint).__name__


def _default_shown(option: dataclasses.Field[Any]) -> str:
    if _required(option):
        return "required"
    if "written" in option.metadata:
        return repr(option.metadata["written"])
    default = option.default
    if option.default_factory is not dataclasses.MISSING:
        default = option.default_factory()
    return repr(list(default) if isinstance(default, tuple) else default)


def _allowed_shown(option: dataclasses.Field[Any], hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return ", ".join(typing.get_args(hint))
    return allowed_range(option)


def settings_reference() -> str:
    """The settings table for the README, derived from the declarations."""
    lines = ["| key | type | default | allowed | what it does |", "| --- | --- | --- | --- | --- |"]
    tables = {**{name: (options,) for name, options in SECTIONS.items()},
              **{f"{name}[]": classes for name, classes in LIST_SECTIONS.items()}}
    for section, classes in tables.items():
        for options in classes:
            for option, hint in declared_options(options):
                lines.append(f"| `{section}.{option.name}` | {_type_name(option, hint)} | {_default_shown(option)} "
                             f"| {_allowed_shown(option, hint)} | {option.metadata['help']} |")
    return "\n".join(lines)
