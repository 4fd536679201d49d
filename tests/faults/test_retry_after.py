"""Bad input 5: a 429 with `Retry-After` (seconds, or an HTTP-date) holds its host back until that
time has passed, while other hosts are fetched meanwhile; a Retry-After past `crawl.max_retry_after`
defers the host's pages to the next crawl (recorded, transient), which stores them.

The fixtures are `fixtures/hostile/retry-after/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import served, set_crawl_keys

from kuroshio.crawler.middlewares.retry import retry_after_seconds
from kuroshio.crawler.options import CrawlConfig
from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "retry-after"
SECONDS = "http://slow.news.test/news/seconds"
DATED = "http://dated.news.test/news/date"
BUSY = ("http://busy.news.test/news/first", "http://busy.news.test/news/second")
SOURCES = (
    '[[sources]]\nname = "slow"\nfeeds = ["http://slow.news.test/feed.xml", "http://dated.news.test/feed.xml"]\n'
    'allowed_domains = ["slow.news.test", "dated.news.test"]\nrobots_sitemaps = false\n\n'
    + "".join(f'[[sources]]\nname = "{name}"\nfeeds = ["http://{name}.news.test/feed.xml"]\nrobots_sitemaps = false\n\n'
              for name in ("busy", "other"))
)
# The HTTP-date is written with whole seconds, so it may ask for up to a second less than the sidecar.
DATE_SECONDS = 4 - 1


@dataclass(frozen=True)
class TwoCrawls:
    first: MeasuredCrawl
    first_requests: list[ServedRequest]
    busy_run: dict
    first_articles: set[str]
    second_requests: list[ServedRequest]
    second_articles: set[str]


def recovered_busy_host(root: Path) -> Path:
    """busy.news.test as it answers once it is no longer overloaded: the same pages, no 429 sidecars."""
    shutil.copytree(CASE / "busy.news.test", root / "busy.news.test")
    for sidecar in (root / "busy.news.test").rglob("*.headers.json"):
        sidecar.unlink()
    return root


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoCrawls]:
    folder = tmp_path_factory.mktemp("retry-after")
    recovered = recovered_busy_host(tmp_path_factory.mktemp("recovered"))
    with FixtureWeb(roots=[CASE]) as web:
        config = set_crawl_keys(hostile_config(folder, proxy=web.proxy_url, sources=SOURCES), retry_times=1)
        first = crawl_measured(config)
        first_requests, busy_run = web.requests, last_run(folder, "busy")
        first_articles = {article["url"] for article in stored_articles(config)}
        web.clear_log()
        web.roots = (recovered, CASE)
        crawl_measured(config)
        second_articles = {article["url"] for article in stored_articles(config)}
        yield TwoCrawls(first, first_requests, busy_run, first_articles, web.requests, second_articles)


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(b"120", now=now) == 120
    assert retry_after_seconds(b"Thu, 01 Jan 2026 00:01:30 GMT", now=now) == 90
    assert retry_after_seconds(b"Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0  # in the past: at once
    assert retry_after_seconds(b"soon", now=now) is None and retry_after_seconds(None) is None


def test_the_servers_did_answer_429_with_retry_after(crawls):
    for url in (SECONDS, DATED):
        assert served(crawls.first_requests, url=url)[0].status == 429, url
    # The second busy page may be deferred before it is ever asked for: at least one was refused.
    busy = served(crawls.first_requests, host="busy.news.test")
    assert {r.status for r in busy if r.path.startswith("/news/")} == {429}


def test_no_request_reaches_a_host_before_its_retry_after_has_passed(crawls):
    """Each host's feed lists only the refused page, so no request already under way when the 429
    arrived can be mistaken for one made after it."""
    for host, url, wait in (("slow.news.test", SECONDS, 3), ("dated.news.test", DATED, DATE_SECONDS)):
        requests = served(crawls.first_requests, host=host)
        refused = next(r for r in requests if r.status == 429)
        later = [r for r in requests if r.at > refused.at]
        assert later, f"{host} was never asked again"
        assert min(r.at for r in later) - refused.at >= wait - 0.05, host
        assert [r.status for r in served(crawls.first_requests, url=url)] == [429, 200]
    assert {SECONDS, DATED} <= crawls.first_articles


def test_other_hosts_are_fetched_while_one_is_held_back(crawls):
    refused = next(r for r in crawls.first_requests if r.url == SECONDS and r.status == 429)
    retried = next(r for r in crawls.first_requests if r.url == SECONDS and r.status == 200)
    meanwhile = [r for r in served(crawls.first_requests, host="other.news.test") if refused.at < r.at < retried.at]
    assert len(meanwhile) >= 4


def test_a_retry_after_over_the_cap_defers_the_host_to_the_next_crawl(crawls):
    cap = CrawlConfig().max_retry_after
    assert 3600 > cap
    reasons = {error["url"]: error["reason"] for error in crawls.busy_run["errors"]}
    assert set(reasons) == set(BUSY)
    assert all(reason.startswith("deferred to a later run") for reason in reasons.values())
    assert not set(BUSY) & crawls.first_articles
    # Neither waited for nor retried in the first crawl; both stored by the next.
    assert all(len(served(crawls.first_requests, url=url)) <= 1 for url in BUSY)
    assert set(BUSY) <= crawls.second_articles
    assert all(served(crawls.second_requests, url=url)[0].status == 200 for url in BUSY)
