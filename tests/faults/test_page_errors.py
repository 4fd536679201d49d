"""Bad input (issue #16, item 4): a page flaw that used to escape the page-failure accounting (a malformed
canonical link, JSON-LD nested past Python's recursion limit) or lose the whole article (one control
character in the body) no longer does: each page is stored with its text, under its own URL.

The fixtures are `fixtures/hostile/page-errors/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
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
from sqlalchemy import select

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import PageFailure

pytestmark = pytest.mark.faults

CASE = HOSTILE / "page-errors"
HOST = "errors.news.test"
SOURCE = f'[[sources]]\nname = "errors"\nfeeds = ["http://{HOST}/feed.xml"]\nrobots_sitemaps = false\n'
MALFORMED = ("bad-canonical", "bad-canonical-port", "deep-json-ld")
CONTROL_CHARACTERS = {"vertical-tab": b"\x0b", "character-reference": b"&#11;", "escape": b"\x1b"}


@dataclass(frozen=True)
class PageErrorCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    articles: dict[str, dict]
    failures: dict[str, str]


@pytest.fixture(scope="module")
def page_error_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageErrorCrawl]:
    folder = tmp_path_factory.mktemp("page-errors")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        engine = create_engine_for(database_url(folder))
        with session_factory(engine)() as session:
            failures = {row.url: row.reason for row in session.scalars(select(PageFailure))}
        engine.dispose()
        articles = {article["url"]: article for article in stored_articles(config)}
        yield PageErrorCrawl(crawl, web.requests, last_run(folder, "errors"), articles, failures)


def test_the_flawed_pages_were_served_with_their_flaws(page_error_crawl):
    for slug, character in CONTROL_CHARACTERS.items():
        assert character in (CASE / HOST / "news" / f"{slug}.html").read_bytes()
    for slug in (*MALFORMED, *CONTROL_CHARACTERS):
        assert [r.status for r in served(page_error_crawl.requests, url=f"http://{HOST}/news/{slug}")] == [200]


@pytest.mark.parametrize("slug", MALFORMED)
def test_a_page_with_malformed_markup_is_stored_under_its_own_url(page_error_crawl, slug):
    article = page_error_crawl.articles[f"http://{HOST}/news/{slug}"]
    assert f"filed from the /news/{slug} desk" in article["text"]


@pytest.mark.parametrize("slug", CONTROL_CHARACTERS)
def test_a_stray_control_character_costs_nothing_of_the_article(page_error_crawl, slug):
    text = page_error_crawl.articles[f"http://{HOST}/news/{slug}"]["text"]
    assert f"the {slug} survey in the east followed" in " ".join(text.split())
    assert f"filed from the /news/{slug} desk" in text
    assert not any(ord(character) < 32 and character not in "\t\n\r" for character in text)


def test_no_page_failed_and_no_traceback(page_error_crawl):
    assert page_error_crawl.run["errors"] == []
    assert page_error_crawl.failures == {}
    assert "Traceback" not in page_error_crawl.crawl.stderr
    assert page_error_crawl.crawl.returncode == 0, page_error_crawl.crawl.stderr
    assert page_error_crawl.run["status"] == "ok"
    assert page_error_crawl.run["articles_new"] == 6


FAULTS_SOURCE = f'[[sources]]\nname = "faults"\nfeeds = ["http://{HOST}/feed-faults.xml"]\nrobots_sitemaps = false\n'
FAILING_EXTRACTION = '"failing_extraction.FailingExtraction" = 100'


@pytest.fixture(scope="module")
def failing_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageErrorCrawl]:
    """A crawl in which reading two pages raises errors no extraction code expects (`failing_extraction`)."""
    folder = tmp_path_factory.mktemp("failing-extraction")
    with FixtureWeb(roots=[CASE]) as web, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
        config = hostile_config(folder, proxy=web.proxy_url, sources=FAULTS_SOURCE)
        text = config.read_text()
        assert "scrapy_settings = { KUROSHIO_HOSTS = {} }" in text
        config.write_text(text.replace("scrapy_settings = { KUROSHIO_HOSTS = {} }",
                                       f"scrapy_settings = {{ KUROSHIO_HOSTS = {{}}, EXTENSIONS = {{ {FAILING_EXTRACTION} }} }}"))
        crawl = crawl_measured(config)
        engine = create_engine_for(database_url(folder))
        with session_factory(engine)() as session:
            failures = {row.url: ("permanent" if row.permanent else "transient", row.reason)
                        for row in session.scalars(select(PageFailure))}
        engine.dispose()
        articles = {article["url"]: article for article in stored_articles(config)}
        yield PageErrorCrawl(crawl, web.requests, last_run(folder, "faults"), articles, failures)


def test_an_unexpected_page_error_is_a_run_error_and_a_failed_page(failing_crawl):
    bug, recursion = (f"http://{HOST}/news/ordinary?fault={fault}" for fault in ("bug", "recursion"))
    reasons = {error["url"]: error["reason"] for error in failing_crawl.run["errors"]}
    assert reasons == {bug: "extraction failed: TypeError: injected: a bug in extraction",
                       recursion: "unreadable page: maximum recursion depth exceeded (injected)"}
    assert failing_crawl.failures == {bug: ("transient", reasons[bug]), recursion: ("permanent", reasons[recursion])}
    assert "Traceback" not in failing_crawl.crawl.stderr
    assert list(failing_crawl.articles) == [f"http://{HOST}/news/ordinary"]
    assert failing_crawl.crawl.returncode == 0, failing_crawl.crawl.stderr
