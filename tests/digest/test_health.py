"""Source health for the digest's footer: sources that failed, found nothing or were not crawled."""

from __future__ import annotations

from digest_support import NOW

from kuroshio.digest.health import source_problems
from kuroshio.storage.models import CrawlRun, Source


def run(source: str, status: str, articles_new: int = 0, message: str | None = None) -> CrawlRun:
    return CrawlRun(source=Source(name=source), status=status, articles_new=articles_new, message=message,
                    started_at=NOW)


def test_sources_that_failed_found_nothing_or_were_not_crawled_are_named() -> None:
    runs = [
        run("kyodo", "ok", 3), run("kyodo", "failed", message="no article link discovered\nat all"),
        run("taiwan-news", "ok", 0), run("taiwan-news", "ok", 0),
        run("focus-taiwan", "ok", 2), run("focus-taiwan", "ok", 0),
        run("slow", "running"),
        run("removed-source", "interrupted"),
    ]
    problems = source_problems(["focus-taiwan", "kyodo", "taiwan-news", "slow", "never"], runs)
    assert [(p.source, p.problem) for p in problems] == [
        ("kyodo", "1 of 2 crawls failed (last: no article link discovered at all)"),
        ("taiwan-news", "2 crawls found no new article"),
        ("never", "not crawled"),
        ("removed-source", "1 of 1 crawls failed"),
    ]
