"""Bad input 4: a server that stalls (before or after its headers), one that drops the connection, and
one answering 503/500 before it recovers: each request is abandoned at `crawl.timeout`, retried at most
`crawl.retry_times` times with the host held back `crawl.retry_backoff` seconds, doubled each retry; the
recovered page is stored; 404/410 are recorded once and never fetched again, while the transient
failures are fetched again by the next crawl.

The fixtures are `fixtures/hostile/network-faults/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from network_crawl import gaps, served, set_crawl_keys

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "network-faults"
TIMEOUT, RETRIES, BACKOFF = 2, 2, 0.5
# How long the stalled pages hold out (their sidecars say it): a crawl that waited out even one stall
# would take at least this long, however fast the machine.
STALL = json.loads((CASE / "stall.news.test" / "news" / "stalled-headers.html.headers.json").read_bytes())["stall"]
STALLED = "http://stall.news.test/news/stalled-headers"
NEVER = "http://stall.news.test/news/never-answers"
RECOVERS = "http://flaky.news.test/news/recovers"
ALWAYS_500 = "http://flaky.news.test/news/always-500"
DROPPED = "http://flaky.news.test/news/dropped"
MISSING = "http://flaky.news.test/news/missing"
REMOVED = "http://flaky.news.test/news/removed"
SOURCES = "".join(
    f'[[sources]]\nname = "{name}"\nfeeds = ["http://{name}.news.test/feed.xml"]\nrobots_sitemaps = false\n\n'
    for name in ("stall", "flaky")
)


@dataclass(frozen=True)
class TwoCrawls:
    first: MeasuredCrawl
    first_requests: list[ServedRequest]
    runs: dict[str, dict]
    articles: list[dict]
    second_requests: list[ServedRequest]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoCrawls]:
    folder = tmp_path_factory.mktemp("network-faults")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCES)
        set_crawl_keys(config, timeout=TIMEOUT, retry_times=RETRIES, retry_backoff=BACKOFF)
        first = crawl_measured(config)
        first_requests = web.requests
        runs = {name: last_run(folder, name) for name in ("stall", "flaky")}
        articles = stored_articles(config)
        web.clear_log()
        set_crawl_keys(config, retry_times=0)  # the next crawl only has to ask again: no need to wait out retries
        crawl_measured(config)
        yield TwoCrawls(first, first_requests, runs, articles, web.requests)


def reasons(crawls: TwoCrawls, source: str) -> dict[str, str]:
    return {error["url"]: error["reason"] for error in crawls.runs[source]["errors"]}


def test_the_server_really_misbehaved(crawls):
    """The bad paths were reached: headers then a stall, a dropped connection, 503 and 500 before 200."""
    assert [r.status for r in served(crawls.first_requests, url=RECOVERS)] == [503, 500, 200]
    assert served(crawls.first_requests, url=STALLED) and served(crawls.first_requests, url=DROPPED)
    assert served(crawls.first_requests, url=MISSING)[0].status == 404
    assert served(crawls.first_requests, url=REMOVED)[0].status == 410


def test_stalled_requests_time_out_and_the_crawl_goes_on(crawls):
    assert crawls.first.returncode == 0, crawls.first.stderr
    errors = reasons(crawls, "stall")
    assert set(errors) == {STALLED, NEVER}
    assert all("TimeoutError" in reason and f"{TIMEOUT:.1f} seconds" in reason for reason in errors.values())
    # Each stalled request holds out STALL seconds (five minutes): a crawl that waited one out would take
    # at least that long; this one took a few seconds, or a minute on the busiest machine.
    assert crawls.first.seconds < STALL / 2
    assert "http://stall.news.test/news/normal" in {article["url"] for article in crawls.articles}


def test_retries_are_bounded_and_backed_off(crawls):
    for url in (STALLED, ALWAYS_500, DROPPED, RECOVERS):
        attempts = served(crawls.first_requests, url=url)
        assert len(attempts) == 1 + RETRIES, url
        for number, gap in enumerate(gaps(attempts), start=1):
            assert gap >= BACKOFF * 2 ** (number - 1) - 0.05, (url, gaps(attempts))


def test_the_recovered_page_is_stored(crawls):
    assert RECOVERS in {article["url"] for article in crawls.articles}
    assert RECOVERS not in reasons(crawls, "flaky")


def test_each_failure_is_recorded_with_its_url(crawls):
    errors = reasons(crawls, "flaky")
    assert errors[MISSING] == "HTTP 404" and errors[REMOVED] == "HTTP 410" and errors[ALWAYS_500] == "HTTP 500"
    assert "ConnectionDone" in errors[DROPPED] or "ConnectionLost" in errors[DROPPED]
    assert crawls.runs["flaky"]["status"] == "ok"


def test_gone_pages_are_not_retried_and_transient_ones_are_by_the_next_crawl(crawls):
    for url in (MISSING, REMOVED):
        assert len(served(crawls.first_requests, url=url)) == 1
        assert not served(crawls.second_requests, url=url)
    for url in (ALWAYS_500, DROPPED, STALLED):
        assert served(crawls.second_requests, url=url), url
    assert not served(crawls.second_requests, url=RECOVERS)  # stored: known now
