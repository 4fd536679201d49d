"""Bad input 10: one story under http and https, with and without `www.`, with tracking parameters and
through AMP pages is one article; every other URL is kept as its alias and never fetched again.

The fixtures are `fixtures/hostile/same-article-many-urls/` (see its README): a first crawl where a feed,
a sitemap and a listing page link the story four ways, and a second where feed and sitemap switch to
https forms the fixture web cannot serve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
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
from sqlalchemy import select

from kuroshio.crawler.extract import extract_article
from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import ArticleURL
from kuroshio.storage.urls import canonicalize_url, url_variants

pytestmark = pytest.mark.faults

CASE = HOSTILE / "same-article-many-urls"
FIRST, LATER = CASE / "first", CASE / "later"
SOURCE = (
    '[[sources]]\nname = "dup"\nfeeds = ["http://dup.news.test/feed.xml"]\n'
    'sitemaps = ["http://dup.news.test/sitemap.xml"]\nlisting_pages = ["http://dup.news.test/latest/"]\n'
    'article_url_pattern = "/news/"\nrobots_sitemaps = false\n'
)
PLAIN = "http://dup.news.test/news/ferry"
WWW = "http://www.dup.news.test/news/ferry"
AMP_PATH = "http://dup.news.test/news/ferry/amp"
AMP_HOST = "http://amp.dup.news.test/news/ferry"
CANONICAL = "https://www.dup.news.test/news/ferry"
ARTICLE_PATHS = ("/news/ferry", "/news/ferry/amp")


@dataclass(frozen=True)
class DupCrawls:
    first: MeasuredCrawl
    first_run: dict
    first_requests: list[ServedRequest]
    articles: list[dict]
    aliases: dict[str, int]
    second: MeasuredCrawl
    second_run: dict
    second_requests: list[ServedRequest]
    articles_after_second: list[dict]


@pytest.fixture(scope="module")
def dup_crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DupCrawls]:
    folder = tmp_path_factory.mktemp("dup")
    with FixtureWeb(roots=[FIRST]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        first = crawl_measured(config)
        first_run, first_requests, articles = last_run(folder, "dup"), web.requests, stored_articles(config)
    engine = create_engine_for(database_url(folder))
    with session_factory(engine)() as session:
        aliases = {row.url: row.article_id for row in session.scalars(select(ArticleURL))}
    engine.dispose()
    with FixtureWeb(roots=[LATER, FIRST]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        second = crawl_measured(config)
        yield DupCrawls(first, first_run, first_requests, articles, aliases, second, last_run(folder, "dup"),
                        web.requests, stored_articles(config))


def extracted(host: str, path: str, url: str):
    body = (FIRST / host / path).read_bytes()
    return extract_article(body, url=url, source="dup", content_type="text/html; charset=utf-8")


def test_the_four_pages_differ_so_only_their_urls_tie_them() -> None:
    """The bad path is real: no two bodies fingerprint alike, and the plain and www pages name no canonical."""
    pages = [
        extracted("dup.news.test", "news/ferry.html", PLAIN),
        extracted("www.dup.news.test", "news/ferry.html", WWW),
        extracted("dup.news.test", "news/ferry/amp.html", AMP_PATH),
        extracted("amp.dup.news.test", "news/ferry.html", AMP_HOST),
    ]
    assert len({page.content_sha256 for page in pages}) == 4
    assert [page.canonical_url for page in pages] == [PLAIN, WWW, CANONICAL, CANONICAL]
    assert canonicalize_url(PLAIN) != canonicalize_url(WWW) != canonicalize_url(CANONICAL)


def test_url_variants_join_scheme_and_www_but_no_other_host() -> None:
    assert set(url_variants("http://dup.news.test/a?utm_source=x&id=2#top")) == {
        "http://dup.news.test/a?id=2", "https://dup.news.test/a?id=2",
        "http://www.dup.news.test/a?id=2", "https://www.dup.news.test/a?id=2",
    }
    variants = url_variants("https://www.dup.news.test/a")
    assert "https://amp.dup.news.test/a" not in variants and "https://news.test/a" not in variants
    assert url_variants("http://dup.news.test:8080/a") == ("http://dup.news.test:8080/a",
                                                           "http://www.dup.news.test:8080/a")
    assert url_variants("http://127.0.0.1/a") == ("http://127.0.0.1/a", "https://127.0.0.1/a")


def test_the_first_crawl_fetches_every_form_and_stores_one_article(dup_crawls: DupCrawls) -> None:
    assert dup_crawls.first.returncode == 0, dup_crawls.first.stderr
    fetched = {request.url.split("?")[0] for request in dup_crawls.first_requests}
    assert {PLAIN, WWW, AMP_PATH, AMP_HOST} <= fetched
    assert dup_crawls.first_run["status"] == "ok"
    assert dup_crawls.first_run["errors"] == []
    assert dup_crawls.first_run["articles_new"] == 1
    assert len(dup_crawls.articles) == 1


def test_every_other_url_is_kept_as_an_alias_as_it_was_seen(dup_crawls: DupCrawls) -> None:
    assert set(dup_crawls.aliases) == {PLAIN, WWW, AMP_PATH, AMP_HOST, CANONICAL}
    assert len(set(dup_crawls.aliases.values())) == 1
    assert not any("utm_" in url for url in dup_crawls.aliases)


def test_the_second_crawl_stores_no_second_article(dup_crawls: DupCrawls) -> None:
    """Whatever the second crawl fetches, the store keeps the one article (today it tries the https forms,
    which the fixture web cannot serve, and the run records those errors)."""
    assert dup_crawls.second_run["articles_new"] == 0
    assert dup_crawls.articles_after_second == dup_crawls.articles


def test_the_second_crawl_knows_the_https_forms_and_fetches_no_article(dup_crawls: DupCrawls) -> None:
    assert dup_crawls.second.returncode == 0, dup_crawls.second.stderr
    requested = {request.path for request in dup_crawls.second_requests}
    assert "/feed.xml" in requested and "/sitemap.xml" in requested  # the https links were discovered
    assert not requested & set(ARTICLE_PATHS)
    assert dup_crawls.second_run["errors"] == []  # an https fetch would have failed: none was tried
    assert dup_crawls.second_run["articles_new"] == 0
    assert dup_crawls.articles_after_second == dup_crawls.articles


def test_store_matches_a_stored_url_under_its_other_scheme_and_www_form(tmp_path: Path) -> None:
    from kuroshio.storage.articles import known_links, store_article
    from kuroshio.storage.engine import upgrade_schema
    from kuroshio.storage.records import ExtractedArticle

    engine = create_engine_for(f"sqlite:///{tmp_path / 'dup.db'}")
    upgrade_schema(engine)
    with session_factory(engine)() as session:
        first = ExtractedArticle(url=PLAIN, canonical_url=PLAIN, source="dup", title="Ferry", text="one body")
        again = ExtractedArticle(url=CANONICAL, canonical_url=CANONICAL, source="dup", title="Ferry",
                                 text="another body")
        other_site = ExtractedArticle(url="http://news.test/news/ferry", canonical_url="http://news.test/news/ferry",
                                      source="dup", title="Ferry", text="a third body")
        stored = store_article(session, first, matches=(), crawl_run_id=None, now=datetime.now(timezone.utc))
        duplicate = store_article(session, again, matches=(), crawl_run_id=None, now=datetime.now(timezone.utc))
        separate = store_article(session, other_site, matches=(), crawl_run_id=None, now=datetime.now(timezone.utc))
        assert stored.created and not duplicate.created and duplicate.article_id == stored.article_id
        assert separate.created
        unseen = "https://dup.news.test/news/ferry"  # this exact form was never seen, but a variant was
        assert known_links(session, [unseen], now=datetime.now(timezone.utc)) == {unseen}
    engine.dispose()
