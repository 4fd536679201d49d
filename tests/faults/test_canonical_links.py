"""Bad input 9: a page's canonical link is honoured only within its own source's domains. A hostile page
naming another source's article as its canonical URL neither hides that article (it is still fetched)
nor puts its own text under that article's URL.

The fixtures are `fixtures/hostile/canonical-poisoning/` (see its README); the crawls are the real command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fixture_web import KUROSHIO, kuroshio
from hostile_crawl import HOSTILE, MeasuredCrawl, database_url, hostile_config, run_measured, stored_articles
from sqlalchemy import select

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import ArticleURL

pytestmark = pytest.mark.faults

CASE = HOSTILE / "canonical-poisoning"
SOURCES = (
    '[[sources]]\nname = "attacker"\nfeeds = ["http://attacker.test/feed.xml"]\n\n'
    '[[sources]]\nname = "victim"\nfeeds = ["http://victim.test/feed.xml"]\n'
)
POISONED = "http://attacker.test/p1"
VICTIM = "http://victim.test/news/1"


@dataclass(frozen=True)
class CanonicalCrawls:
    attacker: MeasuredCrawl
    attacker_requests: list[ServedRequest]
    stored_urls_after_attacker: list[str]
    victim: MeasuredCrawl
    victim_requests: list[ServedRequest]
    articles: list[dict]
    shown: str


@pytest.fixture(scope="module")
def canonical_crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanonicalCrawls]:
    folder = tmp_path_factory.mktemp("canonical")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)
        attacker = run_measured([str(KUROSHIO), "--config", str(config), "crawl", "--source", "attacker"])
        attacker_requests = web.requests
        stored_urls = stored_url_aliases(database_url(folder))
        web.clear_log()
        victim = run_measured([str(KUROSHIO), "--config", str(config), "crawl", "--source", "victim"])
        shown = kuroshio(config, "articles", "show", VICTIM)
        assert shown.returncode == 0, shown.stderr
        yield CanonicalCrawls(attacker, attacker_requests, stored_urls, victim, web.requests,
                              stored_articles(config), shown.stdout)


def stored_url_aliases(url: str) -> list[str]:
    engine = create_engine_for(url)
    try:
        with session_factory(engine)() as session:
            return sorted(session.scalars(select(ArticleURL.url)))
    finally:
        engine.dispose()


def test_the_attacker_page_was_fetched_and_names_the_victim_as_canonical(canonical_crawls):
    assert [r.status for r in canonical_crawls.attacker_requests if r.url == POISONED] == [200]
    assert f'<link rel="canonical" href="{VICTIM}">' in (CASE / "attacker.test" / "p1.html").read_text()


def test_nothing_is_recorded_under_the_other_host(canonical_crawls):
    assert canonical_crawls.attacker.returncode == 0, canonical_crawls.attacker.stderr
    assert [url for url in canonical_crawls.stored_urls_after_attacker if "victim.test" in url] == []
    [poisoned] = [a for a in canonical_crawls.articles if a["url"] == POISONED]
    assert poisoned["canonical_url"] == POISONED
    assert poisoned["source"] == "attacker"


def test_the_victim_article_is_fetched_and_shown_with_its_own_text(canonical_crawls):
    assert canonical_crawls.victim.returncode == 0, canonical_crawls.victim.stderr
    assert [r.status for r in canonical_crawls.victim_requests if r.url == VICTIM] == [200]
    assert "source:    victim" in canonical_crawls.shown
    assert "VICTIM TEXT" in canonical_crawls.shown
    assert "ATTACKER TEXT" not in canonical_crawls.shown


def test_a_canonical_link_within_the_source_domains_is_honoured(canonical_crawls):
    [own] = [a for a in canonical_crawls.articles if a["url"] == "http://attacker.test/p2"]
    assert own["canonical_url"] == "http://www.attacker.test/p2"


def test_each_source_stores_its_own_articles(canonical_crawls):
    by_source: dict[str, set[str]] = {}
    for article in canonical_crawls.articles:
        by_source.setdefault(article["source"], set()).add(article["url"])
    assert by_source == {"attacker": {POISONED, "http://attacker.test/p2"}, "victim": {VICTIM}}
