"""Which discovered links a crawl fetches: the lookback window, read from the dates discovery gives.

A crawl fetches what was published since the window's start, decided before anything is fetched: the
first crawl of a site whose sitemaps hold ten years of archive fetches its last days, not its archive.
The window starts `[crawl] max_age` before the crawl does, or at `kuroshio crawl --since DATE` (a
backfill); the scheduler works that out (`kuroshio.scheduler.crawls`), since a spider knows no clock.
`[crawl] max_pages`, the cap on what one source's crawl requests, is counted by the spider.

The evidence, strongest first:

- **A publication date** — a feed entry's date, a news sitemap's `news:publication_date`: a link
  published before the window's start is not fetched.
- **A `<lastmod>`** — of a page in a plain sitemap, or of a sitemap a sitemap index names: when it last
  changed. A page changes at or after its publication, so a lastmod before the window means an article
  before it; but a lastmod is weaker evidence, so it is read with care:
  - *merely stale* — older than the window's start by less than `LASTMOD_SLACK` (a day): still fetched.
    CMSs stamp an article when it is drafted or scheduled, before it goes out, and a lastmod without a
    UTC offset is read as UTC, so it can be off by hours;
  - *far older* than that: skipped. For a sitemap in an index, that is the whole sitemap, never fetched
    (a yearly archive sitemap last changed in 2019 holds nothing from this week) — but when every
    sitemap of an index is, the newest is still read (`select_sitemaps`);
  - *shared* — every entry of one sitemap (two or more) has the same lastmod: that is the sitemap's
    stamp, not each page's (Taiwan News' lastmod is frozen, never a publication date), so it says
    nothing about any of them and they count as undated.
- **No date** — a listing page's links, a bare sitemap: fetched, counted against the cap.

Not caught: a lastmod frozen at different old values per page, which reads as an old archive; the run's
note says when a source's every dated link fell outside the window (`no_link_in_window_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kuroshio.crawler.discover import DiscoveredLink

LASTMOD_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class CrawlWindow:
    """The lookback window of one crawl: links dated before `start` are not fetched; None: no window."""

    start: datetime | None = None

    def admits(self, link: DiscoveredLink) -> bool:
        """Whether `link` may be fetched: dated inside the window, merely stale by its lastmod, or undated."""
        if self.start is None:
            return True
        if link.published_at is not None:
            return link.published_at >= self.start
        if link.modified_at is not None:
            return link.modified_at >= self.start - LASTMOD_SLACK
        return True

    def select(self, links: Iterable[DiscoveredLink]) -> tuple[list[DiscoveredLink], int]:
        """The links of one discovery document the window admits, newest first (undated ones after the
        dated, in the document's order), and how many it left out. A lastmod shared by every entry is
        dropped first (see the module docstring)."""
        links = without_shared_lastmod(list(links))
        admitted = [link for link in links if self.admits(link)]
        dated = [(date, link) for link in admitted if (date := _date(link)) is not None]
        dated.sort(key=lambda pair: pair[0], reverse=True)  # stable: equal dates keep the document's order
        undated = [link for link in admitted if _date(link) is None]
        return [link for _, link in dated] + undated, len(links) - len(admitted)

    def select_sitemaps(self, sitemaps: Iterable[DiscoveredLink]) -> tuple[list[DiscoveredLink], int]:
        """The sitemaps a sitemap index (or robots.txt) names that the window admits, as `select` has them;
        when it admits none, still the newest: a quiet week is then told from a broken site, and an
        index's stale lastmod cannot hide this week's sitemap."""
        sitemaps = without_shared_lastmod(list(sitemaps))
        selected, too_old = self.select(sitemaps)
        dated = [(date, sitemap) for sitemap in sitemaps if (date := _date(sitemap)) is not None]
        if selected or not dated:
            return selected, too_old
        return [max(dated, key=lambda pair: pair[0])[1]], too_old - 1


NO_WINDOW = CrawlWindow()


def without_shared_lastmod(links: Sequence[DiscoveredLink]) -> list[DiscoveredLink]:
    """`links`, without their lastmod when two or more carry one and all carry the same: a sitemap's
    own stamp (or a frozen value), not each page's."""
    lastmods = {link.modified_at for link in links if link.modified_at is not None}
    carried = sum(link.modified_at is not None for link in links)
    if len(lastmods) != 1 or carried < 2:
        return list(links)
    return [replace(link, modified_at=None) for link in links]


def _date(link: DiscoveredLink) -> datetime | None:
    return link.published_at or link.modified_at


def no_link_in_window_note(*, window: CrawlWindow, too_old: int, admitted: int) -> str | None:
    """The run's note when every link discovery dated fell before the window, or None. Such a source is
    quiet, not broken, unless its dates are wrong; the note says so where `kuroshio runs` shows it."""
    if window.start is None or admitted or not too_old:
        return None
    return (f"no link in the window: all {too_old} links found were dated before "
            f"{window.start.isoformat(timespec='minutes')} (crawl.max_age; kuroshio crawl --since reaches further)")
