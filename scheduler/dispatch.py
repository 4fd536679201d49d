"""Which due sources share the next crawl process, and when it may start: the daemon's batching.

A process costs about a second of CPU and a hundred MiB before it fetches anything (Python, Scrapy,
the store), so the daemon runs up to `daemon.max_sources_per_process` sources in one (`kuroshio crawl
--source A --source B ...`: one Scrapy reactor, a crawler, run record and lease per source) and at most
`daemon.max_crawl_processes` such processes at once.

The rule, in `CrawlQueue.take`: a source whose time has come waits in a first-in, first-out queue. While
fewer than `max_processes` crawls run, a batch starts as soon as the queue holds `max_sources` sources,
or when its oldest source has waited `gather` seconds (sources falling due together — a daemon's start,
sources on one crontab — arrive within milliseconds of each other and share a process, a lone source is
held back by at most `gather`). A full queue behind busy processes starts each batch the moment a
process ends. A source queued or running is not queued again: its tick is skipped (`Admission`).

The queue has no thread and no clock of its own (`now` is passed in), so its rule is tested without
sleeping; `kuroshio.scheduler.daemon` runs it.
"""

from __future__ import annotations

from collections import deque
from enum import Enum


class Admission(Enum):
    """What became of a source that fell due."""

    QUEUED = "queued"
    RUNNING = "running"  # its previous crawl still runs: this tick is skipped
    WAITING = "waiting"  # its previous tick still waits for a process: this one is skipped


class CrawlQueue:
    """Due sources waiting for a crawl process, and the sources of the processes running."""

    def __init__(self, *, max_processes: int, max_sources: int, gather: float) -> None:
        self.max_processes = max_processes
        self.max_sources = max_sources
        self.gather = gather
        self._waiting: deque[tuple[str, float]] = deque()  # (source, when it was queued)
        self._queued: set[str] = set()  # the sources in _waiting
        self._running: set[str] = set()
        self.processes = 0

    def add(self, source: str, *, now: float) -> Admission:
        """Queue `source`, due at `now`, unless it is queued or running already."""
        if source in self._running:
            return Admission.RUNNING
        if source in self._queued:
            return Admission.WAITING
        self._waiting.append((source, now))
        self._queued.add(source)
        return Admission.QUEUED

    @property
    def full(self) -> bool:
        """Every crawl process slot is taken: a queued source waits for one to end, not for its batch to
        gather."""
        return self.processes >= self.max_processes

    def take(self, *, now: float) -> list[str]:
        """The sources of the crawl process to start now (they count as running from here on), or []."""
        if not self._waiting or self.full:
            return []
        if len(self._waiting) < self.max_sources and now - self._waiting[0][1] < self.gather:
            return []
        batch = [self._waiting.popleft()[0] for _ in range(min(self.max_sources, len(self._waiting)))]
        self._queued.difference_update(batch)
        self._running.update(batch)
        self.processes += 1
        return batch

    def seconds_to_wait(self, *, now: float) -> float | None:
        """How long until `take` could start a batch without a source arriving or a process ending:
        None when only one of those can (the queue is empty, or every process slot is taken)."""
        if not self._waiting or self.full:
            return None
        return max(0.0, self._waiting[0][1] + self.gather - now)

    def finished(self, batch: list[str]) -> None:
        """The process crawling `batch` ended: its slot is free and its sources may be queued again."""
        self._running.difference_update(batch)
        self.processes -= 1
