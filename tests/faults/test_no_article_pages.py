"""Bad input 9: pages with no article are recorded as "no content", never stored; a source that comes to
nothing run after run is flagged by `kuroshio status`.

The fixtures are `fixtures/hostile/no-article-pages/` (see its README): a consent wall, a paywall
teaser, an empty `<body>` and a section index served at article URLs, beside one real article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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
from sqlalchemy import or_, select

from kuroshio.crawler.extract import NoArticleError, extract_article
from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.scheduler.exits import EXIT_NEEDS_ATTENTION
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import Article, PageFailure
from kuroshio.storage.runs import STARVED_RUNS, finish_run, start_run, starved_sources

pytestmark = pytest.mark.faults

CASE = HOSTILE / "no-article-pages"
PAGES = CASE / "stub.news.test" / "news"
STUBS = ("consent", "paywall", "empty", "section-index")
SOURCE = '[[sources]]\nname = "stub"\nfeeds = ["http://stub.news.test/feed.xml"]\nrobots_sitemaps = false\n'
START = datetime(2025, 12, 1, tzinfo=timezone.utc)


def stub_url(name: str) -> str:
    return f"http://stub.news.test/news/{name}"


@dataclass(frozen=True)
class StubCrawl:
    crawl: MeasuredCrawl
    run: dict
    articles: list[dict]
    failures: dict[str, str]
    empty_rows: int
    second_requests: list[ServedRequest]


@pytest.fixture(scope="module")
def stub_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubCrawl]:
    folder = tmp_path_factory.mktemp("stubs")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        run, articles = last_run(folder, "stub"), stored_articles(config)
        engine = create_engine_for(database_url(folder))
        with session_factory(engine)() as session:
            failures = {row.url: row.reason for row in session.scalars(select(PageFailure))}
            empty_rows = len(session.scalars(select(Article).where(or_(Article.text == "", Article.title == ""))).all())
        engine.dispose()
        web.clear_log()
        crawl_measured(config)
        yield StubCrawl(crawl, run, articles, failures, empty_rows, web.requests)


@pytest.mark.parametrize("name", STUBS)
def test_each_stub_is_a_real_page_that_extraction_refuses(name: str) -> None:
    """The bad path is real: the stub is served as an ordinary 200 HTML page, and extraction says why not."""
    body = (PAGES / f"{name}.html").read_bytes()
    assert body.startswith(b"<!DOCTYPE html>")
    with pytest.raises(NoArticleError):
        extract_article(body, url=stub_url(name), source="stub", content_type="text/html; charset=utf-8")


def test_the_consent_wall_and_the_index_hold_enough_text_to_pass_for_an_article() -> None:
    """Without the overlay pruning and the link-density check, both would be stored: their text is long."""
    from lxml import html

    for name in ("consent", "section-index"):
        text = html.fromstring((PAGES / f"{name}.html").read_bytes()).text_content()
        assert len(" ".join(text.split())) > 500


def test_stubs_are_recorded_as_no_content_and_never_stored(stub_crawl: StubCrawl) -> None:
    assert stub_crawl.crawl.returncode == 0, stub_crawl.crawl.stderr
    assert stub_crawl.run["status"] == "ok"
    reasons = {error["url"]: error["reason"] for error in stub_crawl.run["errors"]}
    for name in STUBS:
        assert reasons[stub_url(name)].startswith("no content"), reasons
        assert stub_crawl.failures[stub_url(name)].startswith("no content")
    assert [article["url"] for article in stub_crawl.articles] == [stub_url("real")]
    assert stub_crawl.run["articles_new"] == 1
    assert stub_crawl.empty_rows == 0


def test_the_next_crawl_does_not_fetch_the_stubs_again(stub_crawl: StubCrawl) -> None:
    fetched = {request.url for request in stub_crawl.second_requests}
    assert "http://stub.news.test/feed.xml" in fetched
    assert not fetched & {stub_url(name) for name in (*STUBS, "real")}


# --- a source that comes to nothing, run after run ---------------------------------------------------


def record_run(session, source: str, *, hour: int, status: str = "ok", articles_new: int = 0,
               errors: int = 0) -> None:
    started = START + timedelta(hours=hour)
    run_id = start_run(session, source, now=started)
    finish_run(session, run_id, status=status, pages_fetched=errors + articles_new, articles_new=articles_new,
               articles_relevant=0, duplicates_skipped=0,
               errors=[{"url": f"http://{source}.test/{i}", "reason": "no content: x"} for i in range(errors)],
               now=started + timedelta(minutes=1))


@pytest.fixture()
def sessions(tmp_path: Path):
    from kuroshio.storage.engine import upgrade_schema

    engine = create_engine_for(f"sqlite:///{tmp_path / 'runs.db'}")
    upgrade_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def test_three_unproductive_runs_in_a_row_flag_a_source(sessions) -> None:
    with sessions() as session:
        record_run(session, "failing", hour=0, status="failed")
        record_run(session, "failing", hour=1, errors=4)
        record_run(session, "failing", hour=2, status="failed", errors=1)
        assert starved_sources(session) == ["failing"]
        record_run(session, "failing", hour=3, articles_new=1, errors=3)
        assert starved_sources(session) == []


def test_quiet_runs_interrupted_runs_and_short_histories_are_not_flagged(sessions) -> None:
    with sessions() as session:
        for hour in range(STARVED_RUNS):  # nothing new, nothing wrong: a quiet source
            record_run(session, "quiet", hour=hour)
        record_run(session, "young", hour=0, status="failed")
        record_run(session, "young", hour=1, status="failed")
        record_run(session, "broken-once", hour=0, status="failed")
        record_run(session, "broken-once", hour=1, errors=2)
        record_run(session, "broken-once", hour=2)  # quiet run breaks the streak
        assert starved_sources(session) == []
        record_run(session, "young", hour=2, status="failed")
        run_id = start_run(session, "young", pid=1, now=START + timedelta(hours=3))  # killed: says nothing
        finish_run(session, run_id, status="interrupted", pages_fetched=0, articles_new=0, articles_relevant=0,
                   duplicates_skipped=0, errors=[], now=START + timedelta(hours=4))
        assert starved_sources(session) == ["young"]


def test_kuroshio_status_flags_the_starved_source(tmp_path: Path) -> None:
    sources = SOURCE + '\n[[sources]]\nname = "fine"\nfeeds = ["http://fine.news.test/feed.xml"]\n'
    config = hostile_config(tmp_path, proxy="http://127.0.0.1:9", sources=sources)
    before = kuroshio_in_process(config, "status")
    assert before.returncode == 0, before.stderr
    assert "no new article" not in before.stdout
    engine = create_engine_for(database_url(tmp_path))
    with session_factory(engine)() as session:
        for hour in range(STARVED_RUNS):
            record_run(session, "stub", hour=hour, errors=4)
            record_run(session, "fine", hour=hour, articles_new=2)
    engine.dispose()
    status = kuroshio_in_process(config, "status")
    assert status.returncode == EXIT_NEEDS_ATTENTION, status.stderr
    assert f"! stub: no new article in the last {STARVED_RUNS} runs" in status.stdout
    assert "fine:" not in status.stdout
    rows = status.stdout.splitlines()
    [stub_row] = [line for line in rows if re.search(r"\bstub\b", line) and "no new article" not in line]
    [fine_row] = [line for line in rows if re.search(r"\bfine\b", line)]
    assert stub_row.split()[0] == "!" and fine_row.split()[0] == "fine"
