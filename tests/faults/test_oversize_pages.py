"""Bad input 2: a page over `crawl.max_page_bytes`, with and without Content-Length, is cancelled at the
limit and recorded as too large; the crawl goes on and its memory stays bounded.

The fixtures are `fixtures/hostile/oversize-pages/` (see its README); the crawl is the real command with
the default limit.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import (
    HOSTILE,
    MEMORY_CEILING,
    MeasuredCrawl,
    crawl_measured,
    hostile_config,
    last_run,
    run_measured,
    stored_articles,
)

from kuroshio.crawler.options import CrawlConfig
from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "oversize-pages"
HUGE = "http://huge.news.test/news/huge"
STREAMED = "http://huge.news.test/news/huge-streamed"
NORMAL = "http://huge.news.test/news/normal"
SOURCE = '[[sources]]\nname = "huge"\nfeeds = ["http://huge.news.test/feed.xml"]\nrobots_sitemaps = false\n'
LIMIT = CrawlConfig().max_page_bytes


def full_length(path: str) -> int:
    """The size of the body the fixture server sends for `path` when the client reads it all."""
    page = CASE / "huge.news.test" / path
    return page.stat().st_size * json.loads(page.with_name(page.name + ".headers.json").read_text())["repeat"]


@dataclass(frozen=True)
class OversizeCrawl:
    crawl: MeasuredCrawl
    run: dict
    requests: list[ServedRequest]
    bytes_sent: dict[str, list[int]]
    articles: list[dict]
    second_requests: list[ServedRequest]


@pytest.fixture(scope="module")
def oversize_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OversizeCrawl]:
    folder = tmp_path_factory.mktemp("oversize")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        requests, bytes_sent = web.requests, {url: web.bytes_sent(url) for url in (HUGE, STREAMED)}
        run, articles = last_run(folder, "huge"), stored_articles(config)
        web.clear_log()
        crawl_measured(config)
        yield OversizeCrawl(crawl, run, requests, bytes_sent, articles, web.requests)


def test_the_limit_under_test_is_the_default_of_a_few_mib():
    assert 2**20 <= LIMIT <= 16 * 2**20
    assert full_length("news/huge.html") > 10 * LIMIT


def test_the_server_really_serves_the_oversize_bodies_whole_to_a_client_that_reads_on():
    """The bad path is real: both URLs deliver 64 MiB, one announcing it, one not."""
    with FixtureWeb(roots=[CASE]) as web:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))
        for url, announced in ((HUGE, True), (STREAMED, False)):
            with opener.open(url) as response:
                assert (response.headers["Content-Length"] is not None) == announced
                received = 0
                while chunk := response.read(1 << 20):
                    received += len(chunk)
            assert received == full_length("news/huge.html")


def test_both_oversize_pages_are_recorded_too_large_and_the_crawl_goes_on(oversize_crawl):
    assert oversize_crawl.crawl.returncode == 0, oversize_crawl.crawl.stderr
    run = oversize_crawl.run
    assert run["status"] == "ok"
    reasons = {error["url"]: error["reason"] for error in run["errors"]}
    assert set(reasons) == {HUGE, STREAMED}
    for reason in reasons.values():
        assert reason.startswith("too large") and str(LIMIT) in reason
    assert f"{STREAMED}: too large" in oversize_crawl.crawl.stdout
    assert [article["url"] for article in oversize_crawl.articles] == [NORMAL]


def test_the_server_sent_far_less_than_the_oversize_bodies(oversize_crawl):
    full = full_length("news/huge.html")
    [announced] = oversize_crawl.bytes_sent[HUGE]
    [streamed] = oversize_crawl.bytes_sent[STREAMED]
    assert announced < LIMIT  # cancelled on Content-Length, before the body was read
    assert LIMIT < streamed < full // 4  # the bytes really ran past the limit, then the download stopped


def test_an_oversize_page_is_neither_retried_nor_fetched_by_the_next_crawl(oversize_crawl):
    fetched = [request.url for request in oversize_crawl.requests]
    assert fetched.count(HUGE) == 1 and fetched.count(STREAMED) == 1
    assert oversize_crawl.second_requests, "the second crawl must still read the feed"
    assert not {HUGE, STREAMED} & {request.url for request in oversize_crawl.second_requests}


def test_the_memory_measurement_sees_what_a_process_holds():
    """The memory checks can fail: a process holding a 64 MiB body more is measured as such."""
    idle = run_measured([sys.executable, "-c", "pass"]).peak_rss_bytes
    holding = run_measured([sys.executable, "-c", "body = b'x' * (64 * 2**20)"]).peak_rss_bytes
    assert holding - idle > 60 * 2**20 and idle < 64 * 2**20


def test_crawl_memory_stays_bounded(oversize_crawl):
    assert oversize_crawl.crawl.peak_rss_bytes < MEMORY_CEILING
