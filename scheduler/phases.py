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
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from apscheduler.triggers.interval import IntervalTrigger

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
SLACK = timedelta(milliseconds=1)


def phase(source: str, interval: float) -> float:
    """Where in each `interval` (seconds from the grid's origin) `source` falls due: the same for a name
    at every start, spread evenly across names."""
    digest = int.from_bytes(hashlib.sha256(source.encode()).digest()[:8], "big")
    return (digest % int(interval * 1_000_000)) / 1_000_000


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
