"""Bad input 3: gzip bombs — with `Content-Encoding: gzip` (10 MB and 1 GB inflated), and the same bytes
as text/html without it — are never inflated past `crawl.max_page_bytes`, nothing of them is stored,
each is recorded, and the crawl's memory stays bounded.

The fixtures are `fixtures/hostile/compression-bombs/` (see its README); the crawl is the real command
with the default limit.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trafilatura.utils
from hostile_crawl import (
    HOSTILE,
    MEMORY_CEILING,
    MeasuredCrawl,
    crawl_measured,
    hostile_config,
    last_run,
    stored_articles,
)

from kuroshio.crawler.decode import NotHtmlError
from kuroshio.crawler.extract import extract_article
from kuroshio.crawler.options import CrawlConfig
from kuroshio.fixtures.server import FixtureWeb

pytestmark = pytest.mark.faults

CASE = HOSTILE / "compression-bombs"
SITE = CASE / "gzip.news.test"
BOMB = "http://gzip.news.test/news/bomb"
BIG_BOMB = "http://gzip.news.test/news/bomb-1g"
UNENCODED_BOMB = "http://gzip.news.test/news/bomb-as-html"
NORMAL = "http://gzip.news.test/news/normal"
BOMBS = (BOMB, BIG_BOMB, UNENCODED_BOMB)
SOURCE = '[[sources]]\nname = "gzip"\nsitemaps = ["http://gzip.news.test/sitemap.xml"]\nrobots_sitemaps = false\n'
LIMIT = CrawlConfig().max_page_bytes


def sidecar(name: str) -> dict:
    return json.loads((SITE / "news" / f"{name}.headers.json").read_text(encoding="utf-8"))


def test_the_bombs_are_real():
    """10,000,000 zero bytes in 9,750 bytes of gzip; the big one sends that member 100 times (1 GB)."""
    bomb = (SITE / "news" / "bomb").read_bytes()
    assert len(gzip.decompress(bomb)) == 10_000_000 > 1000 * len(bomb)
    assert len(gzip.decompress(bomb * 3)) == 30_000_000  # members concatenate: repeat builds a valid stream
    assert (SITE / "news" / "bomb-1g").read_bytes() == bomb and sidecar("bomb-1g")["repeat"] == 100
    assert (SITE / "news" / "bomb-as-html").read_bytes() == bomb
    assert sidecar("bomb")["headers"]["Content-Encoding"] == sidecar("bomb-1g")["headers"]["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in sidecar("bomb-as-html")["headers"]
    assert 10_000_000 > LIMIT


def test_trafilatura_given_the_unencoded_bomb_as_bytes_would_inflate_it():
    """The bad path is real: a library that sniffs gzip magic inflates what the server never declared."""
    assert trafilatura.utils.decode_file((SITE / "news" / "bomb-as-html").read_bytes()) == "\0" * 10_000_000


def test_extraction_refuses_the_gzip_bytes_as_not_html_without_inflating_them(monkeypatch):
    def no_inflating(*args, **kwargs):
        raise AssertionError("extraction tried to inflate the body")

    monkeypatch.setattr(gzip, "decompress", no_inflating)
    monkeypatch.setattr(trafilatura.utils, "handle_compressed_file", no_inflating)
    with pytest.raises(NotHtmlError, match="gzip-compressed body"):
        extract_article((SITE / "news" / "bomb-as-html").read_bytes(), url=UNENCODED_BOMB, source="gzip",
                        content_type="text/html; charset=utf-8")


@dataclass(frozen=True)
class BombCrawl:
    crawl: MeasuredCrawl
    run: dict
    fetched: list[str]
    bytes_sent: dict[str, list[int]]
    articles: list[dict]


@pytest.fixture(scope="module")
def bomb_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BombCrawl]:
    folder = tmp_path_factory.mktemp("bombs")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        yield BombCrawl(crawl, last_run(folder, "gzip"), web.fetched_urls(),
                        {url: web.bytes_sent(url) for url in BOMBS}, stored_articles(config))


def test_the_server_sent_every_bomb_whole(bomb_crawl):
    bomb_size = (SITE / "news" / "bomb").stat().st_size
    assert bomb_crawl.bytes_sent == {BOMB: [bomb_size], BIG_BOMB: [100 * bomb_size], UNENCODED_BOMB: [bomb_size]}


def test_encoded_bombs_stop_inflating_at_the_limit_and_are_recorded_too_large(bomb_crawl):
    reasons = {error["url"]: error["reason"] for error in bomb_crawl.run["errors"]}
    for url in (BOMB, BIG_BOMB):
        assert reasons[url].startswith("too large") and str(LIMIT) in reasons[url]
    # Scrapy's own account of where it stopped: just past the limit, nowhere near 10 MB or 1 GB.
    assert f"exceeded DOWNLOAD_MAXSIZE ({LIMIT} B) during decompression" in bomb_crawl.crawl.stderr


def test_the_unencoded_bomb_is_recorded_as_not_an_html_page(bomb_crawl):
    reasons = {error["url"]: error["reason"] for error in bomb_crawl.run["errors"]}
    assert reasons[UNENCODED_BOMB] == "not an HTML page (text/html; charset=utf-8): gzip-compressed body"
    assert set(reasons) == set(BOMBS)


def test_nothing_of_the_bombs_is_stored_and_the_crawl_goes_on(bomb_crawl):
    assert bomb_crawl.crawl.returncode == 0, bomb_crawl.crawl.stderr
    assert bomb_crawl.run["status"] == "ok"
    assert [article["url"] for article in bomb_crawl.articles] == [NORMAL]
    assert all(bomb_crawl.fetched.count(url) == 1 for url in BOMBS)  # refused, not retried


def test_crawl_memory_stays_bounded(bomb_crawl):
    assert bomb_crawl.crawl.peak_rss_bytes < MEMORY_CEILING
