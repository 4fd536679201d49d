"""A run's errors are all counted (issue #16, item 7): a crawl of 250 failing pages records 250 errors
— its summary, its run record and `kuroshio runs` say so — where the count stopped at the 200 errors
the crawl keeps the text of. Only the reasons are capped (the run record keeps the first 100).

The fixtures are `fixtures/hostile/many-errors/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import kuroshio
from hostile_crawl import (
    HOSTILE,
    MeasuredCrawl,
    crawl_measured,
    database_url,
    hostile_config,
    last_run,
    stored_articles,
)
from network_crawl import served

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.runs import MAX_RECORDED_ERRORS, list_runs

pytestmark = pytest.mark.faults

CASE = HOSTILE / "many-errors"
HOST = "errors.news.test"
SOURCE = (f'[[sources]]\nname = "errors"\nfeeds = ["http://{HOST}/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
GONE = 250


@dataclass(frozen=True)
class ManyErrorsCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    errors_count: int
    runs_listing: str
    articles: list[dict]


@pytest.fixture(scope="module")
def many_errors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManyErrorsCrawl]:
    folder = tmp_path_factory.mktemp("many-errors")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        listing = kuroshio(config, "runs", "--source", "errors")
        assert listing.returncode == 0, listing.stderr
        header, _, row = listing.stdout.splitlines()[:3]
        errors_count = int(row.split()[header.split().index("errors")])
        yield ManyErrorsCrawl(crawl, web.requests, {**last_run(folder, "errors"), "errors_count": stored_count(folder)},
                              errors_count, listing.stdout, stored_articles(config))


def stored_count(folder: Path) -> int:
    """The errors count of the newest run in the store of `folder`."""
    engine = create_engine_for(database_url(folder))
    try:
        with session_factory(engine)() as session:
            [run] = list_runs(session, source="errors", limit=1)
            return run.errors_count
    finally:
        engine.dispose()


def test_every_gone_page_was_asked_for_and_failed(many_errors):
    gone = [r for r in served(many_errors.requests, host=HOST) if r.path.startswith("/news/gone-")]
    assert len(gone) == GONE
    assert {r.status for r in gone} == {404}
    assert [article["url"] for article in many_errors.articles] == [f"http://{HOST}/news/story"]


def test_the_run_record_counts_every_error_and_keeps_the_first_reasons(many_errors):
    assert many_errors.run["errors_count"] == GONE
    assert len(many_errors.run["errors"]) == MAX_RECORDED_ERRORS
    assert {error["reason"] for error in many_errors.run["errors"]} == {"HTTP 404"}


def test_runs_shows_the_true_count(many_errors):
    assert many_errors.errors_count == GONE, many_errors.runs_listing


def test_the_crawl_summary_counts_every_error_and_says_how_many_it_does_not_list(many_errors):
    summary = many_errors.crawl.stdout
    header, _, row = summary.splitlines()[:3]
    assert int(row.split()[header.split().index("errors")]) == GONE, summary
    listed = [line for line in summary.splitlines() if line.startswith(f"  errors: http://{HOST}/news/gone-")]
    assert f"  errors: {GONE - len(listed)} more errors, not listed" in summary.splitlines(), summary
