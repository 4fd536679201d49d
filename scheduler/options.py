"""The scheduler's options: `[daemon]`, and when each source is crawled and each digest sent (the
`every`/`cron` keys of `[[sources]]` and `cron` of `[[digests]]`: the crawler and the digest never
need to know when they run).

Declared once, as the other parts' options are (see `kuroshio.crawler.options`). Durations are
written as "90s", "15m", "2h" or "1d" and held in seconds (`kuroshio.crawler.options.parse_duration`, the
crawler's `max_age` being one too); `metadata["written"]` keeps the default as it is written, for the README.
Each interval has a floor (`metadata["minimum"]`, a duration): "0s" would have the scheduler fire without
pause. The floors are a second, not minutes, since an interval shorter than a crawl only skips the ticks
that find it still running (`kuroshio.scheduler.daemon`), and the daemon's tests tick every two seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger

from kuroshio.crawler.options import duration_option, parse_duration

MINIMUM_INTERVAL = "1s"  # the shortest `every`


def parse_optional_duration(value: str) -> float | None:
    """A duration, or None for the empty string (meaning: use the default)."""
    return parse_duration(value) if value else None


def parse_cron(value: str) -> str:
    """A five-field crontab expression (or "" for none), checked by APScheduler's own parser."""
    if not value:
        return value
    try:
        CronTrigger.from_crontab(value)
    except ValueError as error:
        raise ValueError(f"expected a crontab expression like '*/15 * * * *', got {value!r} ({error})") from None
    return value


@dataclass(frozen=True)
class DaemonConfig:
    """`[daemon]`: scheduling of the long-running daemon; durations in seconds."""

    every: float = duration_option("30m", "Default crawl interval of a source without its own schedule.",
                                   minimum=MINIMUM_INTERVAL)
    # APScheduler takes its misfire grace time in whole seconds, and refuses 0.
    misfire_grace: float = duration_option(
        "1h", "A run missed (daemon down) by less than this is caught up once at start.", minimum="1s")
    crawl_timeout: float = duration_option(
        "20m", "A crawl process running longer is ended, its sources' runs recorded as failed.", minimum="1s")
    shutdown_grace: float = duration_option(
        "30s", "On SIGTERM, how long a running crawl may take to finish.", minimum="0s")
    heartbeat: float = duration_option("10s", "How often the daemon records that it is alive.", minimum="1s")
    max_crawl_processes: int = field(default=4, metadata={
        "help": "Crawl processes the daemon runs at once; more due sources wait for one to end.", "minimum": 1})
    max_sources_per_process: int = field(default=20, metadata={
        "help": "Due sources that share one crawl process (one reactor; a run and a lease each).", "minimum": 1})
    start_spread: float = duration_option(
        "5m", "Sources due at start (never crawled, or caught up) beyond what the daemon crawls at once are "
        "spread over this long, never over a source's interval; 0s: all at once.", minimum="0s")


@dataclass(frozen=True)
class SourceSchedule:
    """When the daemon crawls one source: its own interval, a crontab, or (neither) `daemon.every`."""

    every: float | None = field(default=None, metadata={
        "help": "Crawl interval for the daemon, e.g. 15m; default: daemon.every.",
        "parse": parse_optional_duration, "written": "", "minimum": MINIMUM_INTERVAL})
    cron: str = field(default="", metadata={
        "help": "Crawl schedule as a crontab expression instead of `every`.", "parse": parse_cron})

    def problems(self) -> Iterator[tuple[str, str]]:
        """Both an interval and a crontab: which one was meant cannot be guessed."""
        if self.every is not None and self.cron:
            yield "cron", "give either every or cron, not both"


@dataclass(frozen=True)
class DigestSchedule:
    """When the daemon sends one digest (in the digest's own time zone)."""

    cron: str = field(default="0 8 * * *", metadata={
        "help": "When the daemon sends it (crontab expression).", "parse": parse_cron})


@dataclass(frozen=True)
class ScaleConfig:
    """`[scale]`: crawls beyond this machine (`kuroshio.scheduler.scale`)."""

    scrapyd: tuple[str, ...] = field(default=(), metadata={
        "help": "Scrapyd nodes (e.g. http://node1:6800) the daemon runs its crawls on, as jobs, instead of "
                "in processes of its own; every node shares the PostgreSQL store. See Running on several machines."})

    def problems(self) -> Iterator[tuple[str, str]]:
        """A node that is not an http(s) URL of a host, carries credentials, or is named twice."""
        for position, url in enumerate(self.scrapyd):
            parts = urlsplit(url)
            if "@" in parts.netloc:  # checked first: the line must not echo a password
                yield f"scrapyd[{position}]", ("credentials in a Scrapyd node's URL are not supported (see README, "
                                               "Running on several machines: Security)")
            elif parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
                    or parts.query or parts.fragment:
                yield f"scrapyd[{position}]", f"expected a Scrapyd node's URL like http://node1:6800, got {url!r}"
            elif url.rstrip("/") in (earlier.rstrip("/") for earlier in self.scrapyd[:position]):
                yield f"scrapyd[{position}]", f"{url!r} is named twice"
