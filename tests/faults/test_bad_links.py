"""Bad input (issue #16, item 3): one link that is no usable URL — a port out of range or no number, a
broken IPv6 host — costs only itself: it is recorded (one log line, one error of the run with the link
and the reason) and the rest of its feed, sitemap or listing page is read. A valid IPv6 link keeps its
brackets.

The fixtures are `fixtures/hostile/bad-links/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "bad-links"
HOST = "badlinks.news.test"
SOURCE = (f'[[sources]]\nname = "badlinks"\nfeeds = ["http://{HOST}/feed.xml"]\n'
          f'sitemaps = ["http://{HOST}/sitemap.xml"]\nlisting_pages = ["http://{HOST}/news/"]\n'
          "article_url_pattern = '/news/'\n")
BAD_LINKS = {
    f"http://{HOST}:99999/news/x": "Port out of range",
    f"http://{HOST}:abc/": "Port could not be cast to integer",
    f"http://{HOST}:99999/sitemap.xml": "Port out of range",
    "http://[::1/news/z": "Invalid IPv6 URL",
}
ARTICLES = [f"http://{HOST}/news/{slug}" for slug in ("feed-1", "feed-2", "listing-1", "sitemap-1")]


@dataclass(frozen=True)
class BadLinkCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: list[dict]


@pytest.fixture(scope="module")
def bad_link_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BadLinkCrawl]:
    folder = tmp_path_factory.mktemp("bad-links")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        yield BadLinkCrawl(crawl, web.requests, last_run(folder, "badlinks"), stored_articles(config))


def test_the_documents_with_bad_links_were_served(bad_link_crawl):
    for document in ("feed.xml", "sitemap.xml", "news/"):
        assert [r.status for r in served(bad_link_crawl.requests, url=f"http://{HOST}/{document}")] == [200]
    # robots.txt is read by the robots policy and, for its Sitemap: lines, by the spider.
    assert {r.status for r in served(bad_link_crawl.requests, url=f"http://{HOST}/robots.txt")} == {200}


def test_each_bad_link_is_one_error_of_the_run_with_its_reason(bad_link_crawl):
    reasons = {error["url"]: error["reason"] for error in bad_link_crawl.run["errors"]}
    for url, reason in BAD_LINKS.items():
        assert reasons[url].startswith("skipped: bad link: "), reasons
        assert reason in reasons[url]
    log = bad_link_crawl.crawl.stderr
    for url in BAD_LINKS:
        assert log.count(f"{url}: skipped: bad link") == 1, log
    assert "Traceback" not in log


def test_the_rest_of_each_document_is_read_and_stored(bad_link_crawl):
    assert sorted(article["url"] for article in bad_link_crawl.articles) == ARTICLES
    assert bad_link_crawl.crawl.returncode == 0, bad_link_crawl.crawl.stderr


def test_a_valid_ipv6_link_is_no_bad_link_and_the_feed_goes_on_past_it(bad_link_crawl):
    # The feed names http://[2001:db8::1]/news/v6 between /news/feed-1 and /news/feed-2: its URL keeps
    # its brackets, so it is no bad link; off the source's domains, it is not requested.
    reasons = {error["url"]: error["reason"] for error in bad_link_crawl.run["errors"]}
    assert not [url for url in reasons if "2001:db8" in url]
    assert not served(bad_link_crawl.requests, host="2001:db8::1")
    stored = {article["url"] for article in bad_link_crawl.articles}
    assert {f"http://{HOST}/news/feed-1", f"http://{HOST}/news/feed-2"} <= stored
