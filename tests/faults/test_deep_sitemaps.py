"""A sitemap index nested deeper than the crawler follows is said, not dropped in silence (issue #16,
item 7): the run records one error against the index at the cap, naming the cap, in one log line.

The fixtures are `fixtures/hostile/deep-sitemaps/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served

from kuroshio.crawler.spiders.source import MAX_SITEMAP_DEPTH
from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "deep-sitemaps"
SITE = "http://deep.news.test"
SOURCE = (f'[[sources]]\nname = "deep"\nsitemaps = ["{SITE}/sitemap.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
AT_THE_CAP = f"{SITE}/index-3.xml"
REASON = f"skipped: sitemap index at the nesting cap ({MAX_SITEMAP_DEPTH} levels): its 1 sitemaps not fetched"


@dataclass(frozen=True)
class DeepCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: list[dict]


@pytest.fixture(scope="module")
def deep_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeepCrawl]:
    folder = tmp_path_factory.mktemp("deep-sitemaps")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        yield DeepCrawl(crawl, web.requests, last_run(folder, "deep"), stored_articles(config))


def test_the_indexes_down_to_the_cap_were_read_and_no_further(deep_crawl):
    for index in ("sitemap.xml", "index-1.xml", "index-2.xml", "index-3.xml", "shallow.xml"):
        assert [r.status for r in served(deep_crawl.requests, url=f"{SITE}/{index}")] == [200], index
    assert served(deep_crawl.requests, url=f"{SITE}/index-4.xml") == []
    assert served(deep_crawl.requests, url=f"{SITE}/news/deep") == []
    assert [article["url"] for article in deep_crawl.articles] == [f"{SITE}/news/shallow"]


def test_the_index_at_the_cap_is_an_error_of_the_run_naming_the_cap(deep_crawl):
    assert {"url": AT_THE_CAP, "reason": REASON} in deep_crawl.run["errors"], deep_crawl.run
    assert deep_crawl.run["status"] == "ok"


def test_it_is_one_log_line_and_in_the_crawl_summary(deep_crawl):
    assert deep_crawl.crawl.stderr.count(f"{AT_THE_CAP}: {REASON}") == 1, deep_crawl.crawl.stderr
    assert f"  deep: {AT_THE_CAP}: {REASON}" in deep_crawl.crawl.stdout.splitlines()
    assert "Traceback" not in deep_crawl.crawl.stderr
