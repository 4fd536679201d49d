"""Bad input 8: a hostile source cannot make the crawler reach inside. Sitemaps named by robots.txt or
a sitemap index, feed links and redirects pointing at loopback, link-local, private or metadata
addresses, at an intranet name or at another port are refused and recorded; nothing is requested there,
and the crawl goes on. A source whose own configured URLs are on an intranet host is still crawled.

The fixtures are `fixtures/hostile/ssrf/` (see its README); the crawl is the real command, and names
resolve through a closed hosts table (`KUROSHIO_HOSTS`), so no DNS query leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import kuroshio, write_config
from hostile_crawl import (
    HOSTILE,
    MeasuredCrawl,
    crawl_measured,
    database_url,
    hostile_config,
    last_run,
    stored_articles,
)

from kuroshio.fixtures.server import FixtureWeb, ServedRequest

pytestmark = pytest.mark.faults

CASE = HOSTILE / "ssrf"
SITE = "http://ssrf.news.test"
SOURCES = (
    '[[sources]]\nname = "ssrf"\nfeeds = ["http://ssrf.news.test/feed.xml"]\n\n'
    '[[sources]]\nname = "intranet"\nlisting_pages = ["http://intranet.test/"]\narticle_url_pattern = "/news/"\n'
)
HOSTS = (
    '{ "intranet.test" = ["10.0.0.5"], "internal.ssrf.news.test" = ["10.1.2.3"], '
    '"mixed.ssrf.news.test" = ["93.184.215.14", "192.168.1.20"], "ssrf.news.test" = ["93.184.215.14"] }'
)
# Hosts the fixture web answers that the `ssrf` source must never reach (as the server logs them).
INSIDE = {"169.254.169.254", "127.0.0.1", "2130706433", "0x7f.1", "::ffff:127.0.0.1", "fd00:ec2::254",
          "internal.ssrf.news.test", "mixed.ssrf.news.test"}
LOOPBACK_PORTS = [f"http://127.0.0.1:{port}/admin/delete?all=1" for port in range(8000, 8100)]
# Refused where robots.txt or the sitemap index names them (the 100 loopback ports come last: the run
# record keeps the first 100 errors and counts the rest).
REFUSED_AT_PARSE = [
    "http://169.254.169.254/latest/meta-data/iam/", "http://127.0.0.1:6379/", "http://intranet.test/sitemap.xml",
    "http://169.254.169.254/latest/user-data", "http://[fd00:ec2::254]/latest/meta-data/", "http://2130706433/",
    "http://0x7f.1/", "http://[::ffff:127.0.0.1]/", "http://ssrf.news.test:2375/sitemap.xml",
]
# Refused before connecting: each resolves (through the hosts table) to a private address.
REFUSED_AT_REQUEST = {
    "http://internal.ssrf.news.test/sitemap.xml": "10.1.2.3",
    "http://mixed.ssrf.news.test/sitemap.xml": "192.168.1.20",
    "http://internal.ssrf.news.test/news/internal": "10.1.2.3",
    f"{SITE}/news/to-metadata": "10.1.2.3",
}
DOCKER = "http://ssrf.news.test:2375/news/docker"
EVERY_REFUSAL = [*REFUSED_AT_PARSE, *LOOPBACK_PORTS, *REFUSED_AT_REQUEST, DOCKER]


@dataclass(frozen=True)
class SsrfCrawl:
    crawl: MeasuredCrawl
    requests: list[ServedRequest]
    run: dict
    errors_count: int
    intranet_run: dict
    articles: list[dict]


@pytest.fixture(scope="module")
def ssrf_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsrfCrawl]:
    folder = tmp_path_factory.mktemp("ssrf")
    with FixtureWeb(roots=[CASE]) as web:
        config = with_hosts_table(hostile_config(folder, proxy=web.proxy_url, sources=SOURCES), HOSTS)
        crawl = crawl_measured(config)
        listing = kuroshio(config, "runs", "--source", "ssrf")
        assert listing.returncode == 0, listing.stderr
        header, _, row = listing.stdout.splitlines()[:3]
        errors_count = int(row.split()[header.split().index("errors")])
        yield SsrfCrawl(crawl, web.requests, last_run(folder, "ssrf"), errors_count, last_run(folder, "intranet"),
                        stored_articles(config))


def with_hosts_table(config: Path, table: str) -> Path:
    """`config` with its `[crawl] scrapy_settings` replaced by `KUROSHIO_HOSTS = table`."""
    text = re.sub(r"^scrapy_settings = .*\n", "", config.read_text(encoding="utf-8"), flags=re.MULTILINE)
    config.write_text(text.replace("[crawl]\n", f"[crawl]\nscrapy_settings = {{ KUROSHIO_HOSTS = {table} }}\n", 1),
                      encoding="utf-8")
    return config


def reasons(run: dict) -> dict[str, str]:
    """The run record's errors by URL (the first 100 a run recorded)."""
    return {error["url"]: error["reason"] for error in run["errors"]}


def logged_reasons(crawl: MeasuredCrawl, source: str) -> dict[str, str]:
    """The errors the crawl logged for `source` ("WARNING logger: source: url: reason"), by URL."""
    logged = {}
    for line in crawl.stderr.splitlines():
        if line.startswith("WARNING ") and f": {source}: " in line:
            url, reason = line.split(f": {source}: ", 1)[1].split(": ", 1)
            logged[url] = reason
    return logged


def test_the_hostile_documents_were_read(ssrf_crawl):
    """The bad path was reached: the crawler read the robots.txt and index naming the internal targets."""
    served = {r.url for r in ssrf_crawl.requests if r.status == 200}
    assert {f"{SITE}/robots.txt", f"{SITE}/sitemap-index.xml", f"{SITE}/feed.xml"} <= served


def test_nothing_is_requested_inside_or_on_another_port(ssrf_crawl):
    inside = [r.url for r in ssrf_crawl.requests if r.host in INSIDE or ":2375" in r.url]
    assert inside == []
    assert [r.url for r in ssrf_crawl.requests if r.url == "http://intranet.test/sitemap.xml"] == []


def test_links_of_an_internal_sitemap_are_never_requested(ssrf_crawl):
    assert [r.url for r in ssrf_crawl.requests if r.path == "/news/internal-only"] == []
    assert not [a for a in ssrf_crawl.articles if "internal-only" in a["url"]]


def test_off_host_sitemaps_are_refused_where_they_are_named(ssrf_crawl):
    refused = reasons(ssrf_crawl.run)
    for url in REFUSED_AT_PARSE:
        assert refused[url].startswith("refused: sitemap off the source"), (url, refused.get(url))
    logged = logged_reasons(ssrf_crawl.crawl, "ssrf")
    for url in LOOPBACK_PORTS:
        assert logged[url] == "refused: sitemap off the source (127.0.0.1 is not one of the source's hosts)"
    assert "port 2375" in refused["http://ssrf.news.test:2375/sitemap.xml"]


def test_names_that_resolve_inside_are_refused_before_connecting(ssrf_crawl):
    # Refused after the index's 108 entries were, so past the 100 errors the run record keeps: read from the log.
    refused = logged_reasons(ssrf_crawl.crawl, "ssrf")
    for url, address in REFUSED_AT_REQUEST.items():
        assert refused[url].startswith("refused: "), (url, refused.get(url))
        assert f"{address}, a private address" in refused[url], refused[url]
    assert "redirected to http://internal.ssrf.news.test/latest/meta-data/iam/" in refused[f"{SITE}/news/to-metadata"]
    assert refused[DOCKER] == "refused: port 2375 of ssrf.news.test is not a port of the source's configured URLs"


def test_each_refusal_is_one_log_line_and_one_run_error_never_a_traceback(ssrf_crawl):
    log = ssrf_crawl.crawl.stderr.splitlines()
    assert not [line for line in log if "Traceback" in line or line.startswith("ERROR")]
    for url in EVERY_REFUSAL:
        assert len([line for line in log if line.startswith("WARNING") and f" {url}: refused: " in line]) == 1, url
    assert ssrf_crawl.errors_count == len(EVERY_REFUSAL)
    assert all(error["reason"].startswith("refused: ") for error in ssrf_crawl.run["errors"])


def test_an_intranet_source_reaches_its_own_host(ssrf_crawl):
    assert ssrf_crawl.intranet_run["status"] == "ok", ssrf_crawl.intranet_run
    assert ssrf_crawl.intranet_run["errors"] == []
    assert "http://intranet.test/news/memo" in {a["url"] for a in ssrf_crawl.articles}


def test_the_crawl_goes_on(ssrf_crawl):
    assert ssrf_crawl.crawl.returncode == 0, ssrf_crawl.crawl.stderr
    assert ssrf_crawl.run["status"] == "ok", ssrf_crawl.run["message"]
    stored = {a["url"] for a in ssrf_crawl.articles if a["source"] == "ssrf"}
    assert stored == {f"{SITE}/news/normal", f"{SITE}/news/from-sitemap"}


def test_without_a_proxy_an_intranet_source_is_reached_at_the_address_judged(tmp_path):
    """No proxy: the crawler connects itself, to the address its hosts table gave `intranet.test` (the
    fixture web, on loopback: the source's own configured host), so nothing is looked up a second time."""
    with FixtureWeb(roots=[CASE]) as web:
        port = web.port
        sources = (f'[[sources]]\nname = "intranet"\nlisting_pages = ["http://intranet.test:{port}/"]\n'
                   'article_url_pattern = "/news/"\n')
        config = write_config(tmp_path / "kuroshio.toml", database_url=database_url(tmp_path), proxy="",
                              sources=sources)
        config = with_hosts_table(config, '{ "intranet.test" = ["127.0.0.1"] }')
        crawl = crawl_measured(config)
        requests = web.requests
    assert crawl.returncode == 0, crawl.stderr
    assert {r.url for r in requests} == {f"http://intranet.test:{port}{path}" for path in ("/robots.txt", "/", "/news/memo")}
    run = last_run(tmp_path, "intranet")
    assert (run["status"], run["errors"]) == ("ok", [])
    assert [a["url"] for a in stored_articles(config)] == [f"http://intranet.test:{port}/news/memo"]
