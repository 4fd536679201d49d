"""Conditional polling (issue #12, item 1): feeds, sitemaps, listing pages and robots.txt are asked for
with the validators of their last answer, a 304 ends that document's work, and a server that ignores
validators is read as before.

The fixtures are `fixtures/hostile/conditional-polling/` (see its README), served through the fixture
proxy; the crawls are the real command.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import kuroshio_in_process
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, database_url, hostile_config, stored_articles

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.runs import list_runs

pytestmark = pytest.mark.faults

CASE = HOSTILE / "conditional-polling"
HONOURS, IGNORES, FLAKY = "http://honours.news.test", "http://ignores.news.test", "http://flaky.news.test"
SOURCES = (
    f'[[sources]]\nname = "honours"\nfeeds = ["{HONOURS}/feed.xml"]\nlisting_pages = ["{HONOURS}/latest/"]\n'
    "article_url_pattern = '/news/'\n\n"
    f'[[sources]]\nname = "ignores"\nfeeds = ["{IGNORES}/feed.xml"]\n\n'
    f'[[sources]]\nname = "flaky"\nfeeds = ["{FLAKY}/feed.xml"]\n'
)
HONOURS_DOCUMENTS = {f"{HONOURS}{path}" for path in
                     ("/feed.xml", "/latest/", "/robots.txt", "/sitemap-index.xml", "/sitemap-news.xml")}


@dataclass(frozen=True)
class Crawl:
    """One crawl: how the command ended, what the fixture web answered, the run records it left."""

    command: MeasuredCrawl
    requests: list[ServedRequest]
    runs: dict[str, dict]

    def statuses(self, url: str) -> list[int]:
        return [request.status for request in self.requests if request.url == url]

    def articles_fetched(self) -> set[str]:
        return {request.url for request in self.requests if "/news/" in request.url}


@dataclass(frozen=True)
class Polls:
    first: Crawl
    unchanged: Crawl
    changed: Crawl
    runs_listing: str
    articles: list[dict]


def runs_of(folder: Path) -> dict[str, dict]:
    """The newest run of each source: status, counts and errors."""
    engine = create_engine_for(database_url(folder))
    try:
        with session_factory(engine)() as session:
            return {run.source.name: {"status": run.status, "articles_new": run.articles_new,
                                      "not_modified": run.not_modified, "errors": list(run.errors)}
                    for run in reversed(list_runs(session, limit=None))}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def polls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Polls]:
    folder = tmp_path_factory.mktemp("conditional-polling")
    overlay = folder / "overlay"
    overlay.mkdir()
    with FixtureWeb(roots=[overlay, CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)

        def crawl() -> Crawl:
            web.clear_log()
            command = crawl_measured(config)
            return Crawl(command, web.requests, runs_of(folder))

        first = crawl()
        # The flaky article's server recovers: served from the overlay, without its 503 sidecar.
        (overlay / "flaky.news.test" / "news").mkdir(parents=True)
        shutil.copy(CASE / "flaky.news.test" / "news" / "f.html", overlay / "flaky.news.test" / "news")
        unchanged = crawl()
        # The feed changes: a new article, so new bytes and a new ETag.
        (overlay / "honours.news.test" / "news").mkdir(parents=True)
        feed = (CASE / "honours.news.test" / "feed.xml").read_text(encoding="utf-8")
        (overlay / "honours.news.test" / "feed.xml").write_text(feed.replace(
            "<item>", f"<item>\n  <title>Story d</title>\n  <link>{HONOURS}/news/d</link>\n</item>\n<item>", 1))
        shutil.copy(CASE / "honours.news.test" / "feed.xml.headers.json", overlay / "honours.news.test")
        shutil.copy(CASE / "added-d.html", overlay / "honours.news.test" / "news" / "d.html")
        changed = crawl()
        listing = kuroshio_in_process(config, "runs", "--limit", "3")
        assert listing.returncode == 0, listing.stderr
        yield Polls(first, unchanged, changed, listing.stdout, stored_articles(config))


def test_the_crawls_ran_and_the_server_honoured_validators(polls: Polls) -> None:
    for crawl in (polls.first, polls.unchanged, polls.changed):
        assert crawl.command.returncode == 0, crawl.command.stderr
    assert {request.status for request in polls.first.requests if request.url in HONOURS_DOCUMENTS} == {200}
    assert 304 in polls.unchanged.statuses(f"{HONOURS}/feed.xml")  # validators were sent, and matched


def test_an_unchanged_source_answers_304_everywhere_and_fetches_no_article(polls: Polls) -> None:
    unchanged = polls.unchanged
    for url in HONOURS_DOCUMENTS:
        assert unchanged.statuses(url) and set(unchanged.statuses(url)) == {304}, (url, unchanged.statuses(url))
    assert not {url for url in unchanged.articles_fetched() if url.startswith(HONOURS)}, unchanged.articles_fetched()
    honours = unchanged.runs["honours"]
    answered_304 = sum(1 for request in unchanged.requests if request.status == 304 and request.url.startswith(HONOURS))
    assert honours == {"status": "ok", "articles_new": 0, "not_modified": answered_304, "errors": []}
    assert answered_304 >= len(HONOURS_DOCUMENTS)


def test_robots_txt_and_a_sitemap_index_answering_304_still_lead_to_what_they_name(polls: Polls) -> None:
    # The news sitemap is asked for only because the kept robots.txt and index were read again.
    assert polls.unchanged.statuses(f"{HONOURS}/sitemap-news.xml") == [304]
    assert f"{HONOURS}/news/s" in {article["url"] for article in polls.articles}


def test_each_crawl_asks_a_host_for_its_robots_txt_once(polls: Polls) -> None:
    # The rules (Scrapy's robots.txt middleware) and the sitemaps it names (the spider) share one answer.
    assert polls.first.statuses(f"{HONOURS}/robots.txt") == [200]
    assert polls.unchanged.statuses(f"{HONOURS}/robots.txt") == [304]
    assert polls.first.statuses(f"{IGNORES}/robots.txt") == [404]  # none there: asked once all the same


def test_runs_shows_the_unchanged_documents(polls: Polls) -> None:
    header, _, *rows = polls.runs_listing.splitlines()
    columns = header.split()
    assert columns[5:8] == ["pages", "unchanged", "new"], header
    unchanged_run = next(row.split() for row in rows if row.split()[1] == "honours")
    assert int(unchanged_run[6]) == polls.changed.runs["honours"]["not_modified"] > 0


def test_a_server_ignoring_validators_is_read_as_before(polls: Polls) -> None:
    for crawl in (polls.first, polls.unchanged, polls.changed):
        assert crawl.statuses(f"{IGNORES}/feed.xml") == [200]
    assert polls.first.articles_fetched() >= {f"{IGNORES}/news/x", f"{IGNORES}/news/y"}
    assert not {url for url in polls.unchanged.articles_fetched() if url.startswith(IGNORES)}
    assert polls.unchanged.runs["ignores"] == {"status": "ok", "articles_new": 0, "not_modified": 0, "errors": []}


def test_a_changed_feed_is_read_and_its_new_article_stored(polls: Polls) -> None:
    changed = polls.changed
    assert changed.statuses(f"{HONOURS}/feed.xml") == [200]
    assert changed.articles_fetched() == {f"{HONOURS}/news/d"}
    assert changed.statuses(f"{HONOURS}/latest/") == [304]
    assert changed.runs["honours"]["articles_new"] == 1
    assert f"{HONOURS}/news/d" in {article["url"] for article in polls.articles}


def test_a_feed_whose_article_failed_is_read_whole_again_until_the_article_is_stored(polls: Polls) -> None:
    assert polls.first.statuses(f"{FLAKY}/news/f") == [503, 503]  # the bad path was reached
    assert polls.first.runs["flaky"]["status"] == "failed"
    assert polls.unchanged.statuses(f"{FLAKY}/feed.xml") == [200]  # its first answer was not remembered
    assert polls.unchanged.statuses(f"{FLAKY}/news/f") == [200]
    assert polls.unchanged.runs["flaky"]["articles_new"] == 1
    assert polls.changed.statuses(f"{FLAKY}/feed.xml") == [304]  # now it was: the article is stored
