"""Issue #10, item 1: no real article is lost for being short or foreign; a page showing an article only
in part is stored as partial; pages that are no article are still refused, each with its reason.

The fixtures are `fixtures/hostile/briefs/` (see its README and `expected.json`): a four-edition wire
site of two- and three-sentence briefs in English, traditional and simplified Chinese and Japanese,
with six non-articles at article URLs; a Kyodo-like paywalled page; a Focus Taiwan-like archive teaser.
They are crawled by the real `kuroshio crawl`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import kuroshio_in_process
from hostile_crawl import (
    HOSTILE,
    MeasuredCrawl,
    crawl_measured,
    database_url,
    hostile_config,
    last_run,
    stored_articles,
)
from sqlalchemy import select

from kuroshio.fixtures.server import FixtureWeb
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import PageFailure

pytestmark = pytest.mark.faults

CASE = HOSTILE / "briefs"
EXPECTED = json.loads((CASE / "expected.json").read_text(encoding="utf-8"))
STORED: dict[str, dict] = EXPECTED["stored"]
REFUSED: dict[str, str] = EXPECTED["refused"]
BRIEFS = [url for url in STORED if url.startswith("http://wire.briefs.test/")]
SOURCES = """
[[sources]]
name = "wire"
feeds = ["http://wire.briefs.test/rss/all.xml"]
robots_sitemaps = false

[[sources]]
name = "kyodo"
feeds = ["http://kyodo.briefs.test/rss/all.xml"]
robots_sitemaps = false

[[sources]]
name = "focus-taiwan"
listing_pages = ["http://focustaiwan.briefs.test/topic/taiwan-japan"]
article_url_pattern = '^http://focustaiwan\\.briefs\\.test/[a-z-]+/\\d{12}$'
robots_sitemaps = false
"""


@dataclass(frozen=True)
class BriefsCrawl:
    crawl: MeasuredCrawl
    config: Path
    runs: dict[str, dict]
    articles: dict[str, dict]
    failures: dict[str, str]
    fetched: set[str]


@pytest.fixture(scope="module")
def briefs_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BriefsCrawl]:
    folder = tmp_path_factory.mktemp("briefs")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)
        crawl = crawl_measured(config)
        fetched = {request.url for request in web.requests if request.status == 200}
    runs = {name: last_run(folder, name) for name in ("wire", "kyodo", "focus-taiwan")}
    engine = create_engine_for(database_url(folder))
    with session_factory(engine)() as session:
        failures = {row.url: row.reason for row in session.scalars(select(PageFailure))}
    engine.dispose()
    articles = {article["url"]: article for article in stored_articles(config)}
    yield BriefsCrawl(crawl, config, runs, articles, failures, fetched)


def test_the_briefs_are_short_pages_that_were_served_and_crawled(briefs_crawl: BriefsCrawl) -> None:
    """The bad path is real: every brief is under the old 200-character floor and was fetched."""
    assert briefs_crawl.crawl.returncode == 0, briefs_crawl.crawl.stderr
    for url in BRIEFS:
        assert len(STORED[url]["text"]) < 200, url
    assert max(len(STORED[url]["text"]) for url in BRIEFS if "/en/" not in url) < 80
    assert set(BRIEFS) | set(REFUSED) <= briefs_crawl.fetched


@pytest.mark.parametrize("url", BRIEFS)
def test_every_brief_is_stored_with_exactly_its_text(briefs_crawl: BriefsCrawl, url: str) -> None:
    article = briefs_crawl.articles.get(url)
    assert article is not None, briefs_crawl.failures.get(url)
    expected = STORED[url]
    assert (article["text"], article["title"], article["language"]) == (expected["text"], expected["title"],
                                                                       expected["language"])
    assert article["partial"] is False


@pytest.mark.parametrize("url", [url for url in STORED if url not in BRIEFS])
def test_a_paywalled_page_and_an_archive_teaser_are_stored_as_partial_and_whole_pages_are_not(
    briefs_crawl: BriefsCrawl, url: str
) -> None:
    article = briefs_crawl.articles.get(url)
    expected = STORED[url]
    assert article is not None, briefs_crawl.failures.get(url)
    assert (article["source"], article["title"], article["partial"]) == (expected["source"], expected["title"],
                                                                         expected["partial"])
    if expected["text"] is not None:  # the lead, without the archive notice
        assert article["text"] == expected["text"]
    else:
        assert len(article["text"].split()) > 60


@pytest.mark.parametrize("url", REFUSED)
def test_every_non_article_is_refused_with_its_reason_and_never_stored(briefs_crawl: BriefsCrawl, url: str) -> None:
    errors = {error["url"]: error["reason"] for error in briefs_crawl.runs["wire"]["errors"]}
    assert errors[url].startswith(f"no content: {REFUSED[url]}"), errors.get(url)
    assert briefs_crawl.failures[url] == errors[url]
    assert url not in briefs_crawl.articles


def test_every_run_is_ok_and_stores_exactly_the_articles(briefs_crawl: BriefsCrawl) -> None:
    assert {name: run["status"] for name, run in briefs_crawl.runs.items()} == dict.fromkeys(briefs_crawl.runs, "ok")
    assert set(briefs_crawl.articles) == set(STORED)
    assert [error["url"] for error in briefs_crawl.runs["kyodo"]["errors"] + briefs_crawl.runs["focus-taiwan"]["errors"]] == []


def test_articles_show_says_whether_an_article_is_partial(briefs_crawl: BriefsCrawl) -> None:
    paywalled = kuroshio_in_process(briefs_crawl.config, "articles", "show", "http://kyodo.briefs.test/articles/-/41237")
    assert paywalled.returncode == 0, paywalled.stderr
    assert "\npartial:   yes: the page showed only the title and lead" in paywalled.stdout
    assert paywalled.stdout.endswith(STORED["http://kyodo.briefs.test/articles/-/41237"]["text"] + "\n")
    brief = kuroshio_in_process(briefs_crawl.config, "articles", "show", BRIEFS[0])
    assert brief.returncode == 0, brief.stderr
    assert "\npartial:   no\n" in brief.stdout
