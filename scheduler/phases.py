"""Each source's place within its interval, so that sources on one interval do not all fall due at once.

A thousand sources polled `every = "5m"` and started together would fall due together every five
minutes, forever: APScheduler's interval counts from the first run, and a daemon's first runs are all
at its start. Each such herd waits for the crawl processes (`kuroshio.scheduler.dispatch`), the last
of it minutes behind schedule, and the machine idles in between. So a source's runs after its first
keep to a grid of its own: multiples of its interval from an offset within the interval taken from a
hash of its name (as Prometheus spreads its scrape targets), the same at every start. No two runs come
closer than the interval: the second comes at the source's first grid time a full interval after the
first (between one and two intervals after it), and each later one an interval after the one before.
A source with `cron` runs when its crontab says.

The first runs have the same problem once more: every source never crawled, or caught up after the
daemon was down (`daemon.misfire_grace`), is due at the daemon's start. `staggered_starts` spreads
such a herd over `daemon.start_spread` (as Prometheus offsets each target's first scrape, and
APScheduler's `jitter` spreads a job's runs), in waves of as many sources as the daemon crawls at once
(`daemon.max_crawl_processes` × `daemon.max_sources_per_process`): a wave fills the crawl processes,
and the next comes when the one before has had its share of the window. A herd no larger than one
wave starts at once, as before: the daemon could crawl it all at once anyway, and a user who adds a
source, or starts a new monitor of a few dozen, expects to see results now, not minutes later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from apscheduler.triggers.interval import IntervalTrigger

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
SLACK = timedelta(milliseconds=1)


def phase(source: str, interval: float) -> float:
    """Where in each `interval` (seconds from the grid's origin) `source` falls due: the same for a name
    at every start, spread evenly across names."""
    digest = int.from_bytes(hashlib.sha256(source.encode()).digest()[:8], "big")
    return (digest % int(interval * 1_000_000)) / 1_000_000


def staggered_starts(bounds: Mapping[str, float], *, wave: int, spread: float) -> dict[str, float]:
    """Seconds after the daemon's start at which each source of a herd due at that start is first run.

    `bounds` maps each source to its interval in seconds (for a cron source, the time to its next
    regular run): no source's start is put that late. The sources are taken in the order of a hash of
    their names (`phase`: the same at every start, and unrelated to the order of the config, which
    often lists one publisher's sites together), `wave` at a time; wave `k` of `n` starts `k / n` of the
    way into the window, `spread` capped by the source's bound. So a herd of at most `wave` sources (a
    lone new source, say) starts at once, and a larger one is spread evenly over the window, its last
    wave starting before the window's end; `spread` 0 starts every source at once.
    """
    order = sorted(bounds, key=lambda source: (phase(source, 1.0), source))
    waves = -(-len(order) // wave)  # ceiling division
    return {source: min(spread, bounds[source]) * (rank // wave) / waves for rank, source in enumerate(order)}


class PhasedIntervalTrigger(IntervalTrigger):
    """Every `seconds`, at `source`'s place in the interval (`phase`), whenever the run before it was."""

    def __init__(self, source: str, *, seconds: float) -> None:
        super().__init__(seconds=seconds, start_date=EPOCH + timedelta(seconds=phase(source, seconds)),
                         timezone=timezone.utc)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first grid time a full interval after `previous_fire_time` (which, the first run, may lie off
        the grid). A millisecond's slack: a time on the grid plus the interval is on it, whatever the float
        arithmetic of APScheduler's grid makes of it."""
        if previous_fire_time is None:
            return super().get_next_fire_time(None, now)
        return super().get_next_fire_time(None, previous_fire_time + self.interval - SLACK)
