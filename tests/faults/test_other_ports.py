"""A port is part of a site (issue #16, item 7): a source whose host is `ports.news.test` reaches it only on
the ports its configured URLs use (80 here). A link, a redirect or a canonical link to the same host on
port 2375 (Docker's API) is off the source: nothing is requested there, and a page cannot have its text
stored under that URL.

The fixtures are `fixtures/hostile/other-ports/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fixture_web import kuroshio_in_process
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "other-ports"
SITE = "http://ports.news.test"
SOURCE = (f'[[sources]]\nname = "ports"\nfeeds = ["{SITE}/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
DOCKER = "http://ports.news.test:2375/news/docker"
CLAIMED = "http://ports.news.test:2375/news/claimed"


@dataclass(frozen=True)
class PortsCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: list[dict]
    claimed_show: int


@pytest.fixture(scope="module")
def ports_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortsCrawl]:
    folder = tmp_path_factory.mktemp("other-ports")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        claimed = kuroshio_in_process(config, "articles", "show", CLAIMED)
        yield PortsCrawl(crawl, web.requests, last_run(folder, "ports"), stored_articles(config), claimed.returncode)


def test_the_article_with_the_claim_was_fetched(ports_crawl):
    assert [r.status for r in served(ports_crawl.requests, url=f"{SITE}/news/claim")] == [200]
    assert [r.status for r in served(ports_crawl.requests, url=f"{SITE}/news/moved")] == [301]


def test_nothing_is_requested_on_another_port(ports_crawl):
    assert [r.url for r in ports_crawl.requests if ":2375" in r.url] == []
    reasons = {error["url"]: error["reason"] for error in ports_crawl.run["errors"]}
    assert "port 2375 of ports.news.test is not a port of the source's configured URLs" in reasons[DOCKER]
    assert "redirected to" in reasons[f"{SITE}/news/moved"]


def test_a_canonical_link_to_another_port_claims_nothing(ports_crawl):
    [article] = ports_crawl.articles
    assert (article["url"], article["canonical_url"]) == (f"{SITE}/news/claim", f"{SITE}/news/claim")
    assert ports_crawl.claimed_show == 1  # no article is known under the port-2375 URL
