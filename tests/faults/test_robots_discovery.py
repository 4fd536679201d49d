"""Discovery through robots.txt on the real web's terms: robots.txt is asked for on the source's own port,
a missing robots.txt (404) is allow-all and no error — so a healthy source is not flagged as starved after
a few crawls — and every fetch error is one log line with its URL and reason, never a Scrapy traceback.

The fixtures are `fixtures/hostile/robots-discovery/` (see its README). The crawls are the real command,
with no proxy: each site's name resolves to 127.0.0.1 through the crawl's hosts table, and its URLs name
the fixture web's port, as an intranet site's name `:8080`; port 80 has nothing listening.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import kuroshio_in_process
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.scheduler.exits import EXIT_NEEDS_ATTENTION

pytestmark = pytest.mark.faults

CASE = HOSTILE / "robots-discovery"
SITES = ("norobots", "port", "dropped", "faulty")
CRAWLS = 4  # one that stores, then the three that make a source starved if each recorded an error


@dataclass(frozen=True)
class DiscoveryCrawls:
    port: int
    crawls: list[MeasuredCrawl]
    requests: list[ServedRequest]
    runs: dict[str, dict]
    articles: list[dict]
    status: str


def site(name: str, port: int) -> str:
    return f"http://{name}.news.test:{port}"


@pytest.fixture(scope="module")
def discovery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiscoveryCrawls]:
    folder = tmp_path_factory.mktemp("robots-discovery")
    overlay = folder / "overlay"
    with FixtureWeb(roots=[overlay, CASE]) as web:
        robots = overlay / "port.news.test" / "robots.txt"
        robots.parent.mkdir(parents=True)
        robots.write_text(f"User-agent: *\nDisallow: /search\n\nSitemap: {site('port', web.port)}/sitemap.xml\n")
        sources = "".join(f'[[sources]]\nname = "{name}"\nfeeds = ["{site(name, web.port)}/feed.xml"]\n\n'
                          for name in SITES)
        config = with_hosts(hostile_config(folder, proxy="", sources=sources),
                            {f"{name}.news.test": "127.0.0.1" for name in SITES})
        crawls = [crawl_measured(config) for _ in range(CRAWLS)]
        status = kuroshio_in_process(config, "status")
        assert status.returncode == EXIT_NEEDS_ATTENTION, status.stderr  # two sources are flagged
        yield DiscoveryCrawls(web.port, crawls, web.requests, {name: last_run(folder, name) for name in SITES},
                              stored_articles(config), status.stdout)


def with_hosts(config: Path, hosts: dict[str, str]) -> Path:
    """`config` with its hosts table (`KUROSHIO_HOSTS`) naming each of `hosts` at its address."""
    table = ", ".join(f'"{name}" = ["{address}"]' for name, address in hosts.items())
    text = re.sub(r"^scrapy_settings = .*\n", "", config.read_text(encoding="utf-8"), flags=re.MULTILINE)
    config.write_text(text.replace("[crawl]\n", f"[crawl]\nscrapy_settings = {{ KUROSHIO_HOSTS = {{ {table} }} }}\n",
                                   1), encoding="utf-8")
    return config


def test_the_crawls_ran_and_the_faults_were_served(discovery):
    assert [crawl.returncode for crawl in discovery.crawls] == [0] * CRAWLS, discovery.crawls[0].stderr
    served = {(r.url, r.status) for r in discovery.requests}
    assert (f"{site('norobots', discovery.port)}/robots.txt", 404) in served  # the bad path was reached
    dropped = [r for r in discovery.requests if r.url == f"{site('dropped', discovery.port)}/robots.txt"]
    assert len(dropped) >= 2  # dropped, retried, dropped


def test_robots_txt_is_asked_for_on_the_sources_own_port(discovery):
    asked = {r.url for r in discovery.requests if r.path == "/robots.txt"}
    assert asked == {f"{site(name, discovery.port)}/robots.txt" for name in SITES}
    assert f"{site('port', discovery.port)}/sitemap.xml" in {r.url for r in discovery.requests}
    stored = {article["url"] for article in discovery.articles}
    assert {f"{site('port', discovery.port)}/news/c", f"{site('port', discovery.port)}/news/d"} <= stored
    assert discovery.runs["port"] == {"status": "ok", "message": None, "errors": [], "articles_new": 0}


def test_a_missing_robots_txt_is_allow_all_and_no_error(discovery):
    assert discovery.runs["norobots"] == {"status": "ok", "message": None, "errors": [], "articles_new": 0}
    stored = {article["url"] for article in discovery.articles}
    assert {f"{site('norobots', discovery.port)}/news/a", f"{site('norobots', discovery.port)}/news/b"} <= stored
    assert "norobots" not in discovery.crawls[0].stderr


def test_status_flags_the_failing_sources_and_not_the_healthy_ones_after_four_crawls(discovery):
    flagged = set(re.findall(r"^! (\w+): ", discovery.status, flags=re.MULTILINE))
    assert flagged == {"dropped", "faulty"}, discovery.status


def test_each_fetch_error_is_one_log_line_with_its_url_and_reason_never_a_traceback(discovery):
    log = discovery.crawls[0].stderr.splitlines()
    assert not [line for line in log if "Traceback" in line or line.startswith(("ERROR", "CRITICAL"))], log
    dropped_robots = f"{site('dropped', discovery.port)}/robots.txt"
    dropped_page = f"{site('faulty', discovery.port)}/news/g"
    for url in (dropped_robots, dropped_page):
        [line] = [line for line in log if url in line]
        assert line.startswith("WARNING ") and "ConnectionDone: Connection was closed cleanly." in line, line
    assert len(log) == 3, log  # the two above, and the dropped host's feed, deferred with the same reason
    [error] = discovery.runs["faulty"]["errors"]
    assert error == {"url": dropped_page, "reason": "ConnectionDone: Connection was closed cleanly."}
