"""The work extraction does per page is capped (issue #16, item 7): a 4.8 MB page of 150,000 paragraphs
(trafilatura took 66 s of CPU and 470 MB on one) is recorded as too large and never handed to
trafilatura, and the rest of the crawl is stored.

The fixtures are `fixtures/hostile/huge-page/` (see its README); the crawl is the real command. The
check is on what was recorded, not on the clock: the reason names the cap, and the page is remembered
as failed, so the next crawl does not fetch it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import (
    HOSTILE,
    MEMORY_CEILING,
    MeasuredCrawl,
    crawl_measured,
    database_url,
    hostile_config,
    last_run,
    stored_articles,
)
from network_crawl import served
from sqlalchemy import select

from kuroshio.crawler.extract import MAX_PAGE_ELEMENTS
from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import PageFailure

pytestmark = pytest.mark.faults

CASE = HOSTILE / "huge-page"
SITE = "http://huge.news.test"
SOURCE = (f'[[sources]]\nname = "huge"\nfeeds = ["{SITE}/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
HUGE = f"{SITE}/news/huge"
PARAGRAPHS = 150_000
REASON = f"too large: {PARAGRAPHS} HTML elements, more than the {MAX_PAGE_ELEMENTS} extraction reads"


@dataclass(frozen=True)
class HugeCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: list[dict]
    failures: dict[str, tuple[str, bool]]


@pytest.fixture(scope="module")
def huge_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HugeCrawl]:
    folder = tmp_path_factory.mktemp("huge-page")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        yield HugeCrawl(crawl, web.requests, last_run(folder, "huge"), stored_articles(config),
                        page_failures(database_url(folder)))


def page_failures(url: str) -> dict[str, tuple[str, bool]]:
    """The failed pages a store remembers: URL → (reason, permanent)."""
    engine = create_engine_for(url)
    try:
        with session_factory(engine)() as session:
            return {failure.url: (failure.reason, failure.permanent) for failure in session.scalars(select(PageFailure))}
    finally:
        engine.dispose()


def test_the_huge_page_was_served_whole(huge_crawl):
    [page] = served(huge_crawl.requests, url=HUGE)
    assert page.status == 200
    assert PARAGRAPHS * 32 < 5 * 2**20  # under crawl.max_page_bytes: the byte limit lets it through


def test_the_huge_page_is_recorded_too_large_naming_the_cap(huge_crawl):
    assert {"url": HUGE, "reason": REASON} in huge_crawl.run["errors"], huge_crawl.run
    assert huge_crawl.failures.get(HUGE) == (REASON, True)  # not fetched again for a while


def test_the_rest_of_the_crawl_is_stored_within_ordinary_memory(huge_crawl):
    assert [article["url"] for article in huge_crawl.articles] == [f"{SITE}/news/story"]
    assert huge_crawl.crawl.returncode == 0, huge_crawl.crawl.stderr
    assert huge_crawl.crawl.peak_rss_bytes < MEMORY_CEILING
