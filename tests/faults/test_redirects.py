"""Bad input 7: a redirect loop and a redirect to a domain that is not allowed are stopped and recorded
with the page's URL; nothing is fetched on the other domain, and the crawl goes on.

The fixtures are `fixtures/hostile/redirects/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "redirects"
LOOP = "http://loop.news.test/news/loop-a"
AWAY = "http://loop.news.test/news/away"
SOURCE = '[[sources]]\nname = "loop"\nfeeds = ["http://loop.news.test/feed.xml"]\nrobots_sitemaps = false\n'


@dataclass(frozen=True)
class RedirectCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: list[dict]


@pytest.fixture(scope="module")
def redirect_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedirectCrawl]:
    folder = tmp_path_factory.mktemp("redirects")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        yield RedirectCrawl(crawl, web.requests, last_run(folder, "loop"), stored_articles(config))


def test_the_server_did_redirect_in_a_loop_and_off_the_domain(redirect_crawl):
    assert [r.status for r in served(redirect_crawl.requests, url=LOOP)] == [301]
    assert [r.status for r in served(redirect_crawl.requests, url="http://loop.news.test/news/loop-b")] == [301]
    assert [r.status for r in served(redirect_crawl.requests, url=AWAY)] == [301]


def test_a_redirect_loop_is_stopped_and_recorded(redirect_crawl):
    reasons = {error["url"]: error["reason"] for error in redirect_crawl.run["errors"]}
    assert reasons[LOOP].startswith("redirect loop: ")
    assert reasons[LOOP].endswith("loop-b -> http://loop.news.test/news/loop-a")
    assert f"{LOOP}: redirect loop" in redirect_crawl.crawl.stderr + redirect_crawl.crawl.stdout


def test_a_redirect_off_the_allowed_domains_is_recorded_and_nothing_is_fetched_there(redirect_crawl):
    reasons = {error["url"]: error["reason"] for error in redirect_crawl.run["errors"]}
    assert reasons[AWAY] == "redirected off the allowed domains to http://elsewhere.test/news/taken"
    assert not served(redirect_crawl.requests, host="elsewhere.test")


def test_the_crawl_goes_on(redirect_crawl):
    assert redirect_crawl.crawl.returncode == 0, redirect_crawl.crawl.stderr
    assert redirect_crawl.run["status"] == "ok"
    assert [article["url"] for article in redirect_crawl.articles] == ["http://loop.news.test/news/normal"]
