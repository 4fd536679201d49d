"""Bad input 6: robots.txt. A disallowed path is never fetched; `Crawl-delay` spaces a host's requests,
capped at `crawl.max_crawl_delay` with the cap logged; a robots.txt that answers 5xx (after its
retries) defers the whole host to the next crawl — nothing else is fetched there — where Scrapy alone
would treat it as allow-all.

The fixtures are `fixtures/hostile/robots/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run
from network_crawl import gaps, served, set_crawl_keys

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "robots"
CAP = 1.5
SECRET = "http://polite.news.test/private/secret"
# Gaps are measured between answers, and a request's latency under a loaded machine varies a little.
SLACK = 0.2
SOURCES = "".join(
    f'[[sources]]\nname = "{name}"\nfeeds = ["http://{name}.news.test/feed.xml"]\nrobots_sitemaps = false\n\n'
    for name in ("polite", "greedy", "down", "unreachable")
)


@dataclass(frozen=True)
class RobotsCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    runs: dict[str, dict]


@pytest.fixture(scope="module")
def robots_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobotsCrawl]:
    folder = tmp_path_factory.mktemp("robots")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)
        set_crawl_keys(config, max_crawl_delay=CAP, download_delay=0.0, autothrottle="false", retry_times=1)
        crawl = crawl_measured(config)
        yield RobotsCrawl(crawl, web.requests, {name: last_run(folder, name) for name in ("polite", "greedy", "down", "unreachable")})


def test_the_fixtures_ask_what_the_tests_check():
    assert "Disallow: /private/" in (CASE / "polite.news.test" / "robots.txt").read_text()
    assert SECRET in (CASE / "polite.news.test" / "feed.xml").read_text()  # discovered: the bad path is offered
    assert "Crawl-delay: 1\n" in (CASE / "polite.news.test" / "robots.txt").read_text()
    assert "Crawl-delay: 3600" in (CASE / "greedy.news.test" / "robots.txt").read_text()


def test_a_disallowed_path_is_never_fetched(robots_crawl):
    assert robots_crawl.crawl.returncode == 0, robots_crawl.crawl.stderr
    assert not served(robots_crawl.requests, url=SECRET)
    assert len(served(robots_crawl.requests, host="polite.news.test")) == 5  # robots.txt, feed, 3 articles
    assert robots_crawl.runs["polite"]["status"] == "ok"


def test_crawl_delay_spaces_the_hosts_requests(robots_crawl):
    """With download_delay 0 and no AutoThrottle, only Crawl-delay holds the requests apart."""
    polite = served(robots_crawl.requests, host="polite.news.test")[1:]  # after robots.txt is read
    assert min(gaps(polite)) >= 1 - SLACK, gaps(polite)


def test_a_crawl_delay_over_the_cap_is_capped_and_logged(robots_crawl):
    greedy = served(robots_crawl.requests, host="greedy.news.test")[1:]
    assert len(greedy) == 3
    assert all(CAP - SLACK <= gap < 3600 for gap in gaps(greedy)), gaps(greedy)
    assert f"greedy.news.test: robots.txt Crawl-delay 3600.0 s capped at crawl.max_crawl_delay ({CAP} s)" in (
        robots_crawl.crawl.stdout + robots_crawl.crawl.stderr)


def test_a_robots_txt_answering_5xx_defers_the_whole_host(robots_crawl):
    down = served(robots_crawl.requests, host="down.news.test")
    assert [(r.path, r.status) for r in down] == [("/robots.txt", 503)] * 2  # retried once, then given up
    run = robots_crawl.runs["down"]
    assert run["status"] == "failed" and run["articles_new"] == 0
    assert run["errors"] == [{"url": "http://down.news.test/feed.xml",
                              "reason": "deferred to a later run: http://down.news.test/robots.txt answered HTTP 503"}]


def test_a_robots_txt_that_cannot_be_fetched_defers_the_whole_host(robots_crawl):
    unreachable = served(robots_crawl.requests, host="unreachable.news.test")
    assert [r.path for r in unreachable] == ["/robots.txt"] * 2  # dropped, retried once, then given up
    run = robots_crawl.runs["unreachable"]
    assert run["status"] == "failed" and run["articles_new"] == 0
    [error] = run["errors"]
    assert error["url"] == "http://unreachable.news.test/feed.xml"
    assert error["reason"].startswith("deferred to a later run: robots.txt of unreachable.news.test could not be fetched")
