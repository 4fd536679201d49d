"""The built-in sources point at what the real publishers serve today, and the demo mirrors them.

The demo web (fixtures/web/) stands in for the real hosts under reserved `.test` names: the demo's
sources are the built-in ones with the hosts swapped, so the demo crawl exercises the same discovery
(Kyodo's live feed, Taiwan News's sections and English sitemap) and the same anchored URL patterns.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from fixture_web import DEMO_CONFIG, EXPECTED

from kuroshio.fixtures.server import FixtureWeb
from kuroshio.scheduler.config import BUILTIN_SOURCES, load_config

BUILTIN = {source.name: source for source in BUILTIN_SOURCES}
# Each real host and the fixture host that stands in for it.
TEST_HOSTS = {
    "focustaiwan.tw": "focustaiwan.test",
    "feeds.feedburner.com": "feeds.feedburner.test",
    "english.kyodonews.net": "english.kyodonews.test",
    "www.taiwannews.com.tw": "www.taiwannews.test",
}


def on_test_hosts(text: str) -> str:
    """`text` (a URL or a URL pattern) with every real host, plain or regex-escaped, on its `.test` host."""
    for real, test in TEST_HOSTS.items():
        text = text.replace(real, test).replace(re.escape(real), re.escape(test))
    return text.replace("https://", "http://")


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("focus-taiwan", "https://focustaiwan.tw/politics/202403310012"),
        ("focus-taiwan", "https://focustaiwan.tw/cross-strait/202606050024"),
        ("kyodo", "https://english.kyodonews.net/articles/-/52167"),
        ("kyodo", "https://english.kyodonews.net/articles/-/52167?phx=1"),
        ("kyodo", "https://english.kyodonews.net/news/2023/06/9c1e4b7a2d05-japan-to-ease-visa-rules-for-taiwan-students.html"),
        ("taiwan-news", "https://www.taiwannews.com.tw/news/5880054"),
        ("taiwan-news", "https://www.taiwannews.com.tw/en/news/3620194"),
    ],
)
def test_builtin_pattern_matches_both_generations_of_article_urls(source, url):
    assert re.search(BUILTIN[source].article_url_pattern, url)


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("focus-taiwan", "https://focustaiwan.tw/politics"),
        ("focus-taiwan", "https://elsewhere.example/focustaiwan.tw/politics/202403310012"),
        ("kyodo", "https://english.kyodonews.net.elsewhere.example/articles/-/52167"),
        ("kyodo", "https://elsewhere.example/?next=https://english.kyodonews.net/articles/-/52167"),
        ("kyodo", "https://english.kyodonews.net/list/news/asia"),
        ("taiwan-news", "https://www.taiwannews.com.tw/zh/news/5880062"),
        ("taiwan-news", "https://www.taiwannews.com.tw/category/Politics"),
        ("taiwan-news", "https://elsewhere.example/news/5880054?from=www.taiwannews.com.tw"),
    ],
)
def test_builtin_pattern_is_anchored_to_the_publishers_host_and_edition(source, url):
    assert not re.search(BUILTIN[source].article_url_pattern, url)


def test_builtin_sources_use_the_live_discovery_urls():
    assert BUILTIN["focus-taiwan"].feeds == ("https://feeds.feedburner.com/rsscna/engnews",)
    assert BUILTIN["kyodo"].feeds == ("https://english.kyodonews.net/list/feed/rss4kyodonews-fzone",)
    assert not [url for source in BUILTIN_SOURCES for url in source.feeds if url.endswith("/rss/news.xml")]
    assert BUILTIN["taiwan-news"].sitemaps == ("https://www.taiwannews.com.tw/sitemap_en.xml",)
    assert all("/category/" in url for url in BUILTIN["taiwan-news"].listing_pages)


def test_demo_sources_are_the_builtin_ones_on_the_fixture_hosts():
    demo = {source.name: source for source in load_config(DEMO_CONFIG).sources}
    assert set(demo) == set(BUILTIN)
    for name, builtin in BUILTIN.items():
        source = demo[name]
        assert source.feeds == tuple(on_test_hosts(url) for url in builtin.feeds), name
        assert source.sitemaps == tuple(on_test_hosts(url) for url in builtin.sitemaps), name
        assert source.listing_pages == tuple(on_test_hosts(url) for url in builtin.listing_pages), name
        assert source.article_url_pattern == on_test_hosts(builtin.article_url_pattern), name
        assert source.allowed_domains == tuple(on_test_hosts(domain) for domain in builtin.allowed_domains), name
        assert source.publisher == builtin.publisher, name


def test_demo_discovery_urls_are_served_by_the_fixture_web_and_the_retired_kyodo_feed_is_not():
    demo = load_config(DEMO_CONFIG).sources
    urls = [url for source in demo for url in (*source.feeds, *source.sitemaps, *source.listing_pages)]
    with FixtureWeb() as web:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))

        def status(url: str) -> int:
            try:
                with opener.open(url, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert {url: status(url) for url in urls} == dict.fromkeys(urls, 200)
        assert status("http://english.kyodonews.test/rss/news.xml") == 404


PUBLISHER_PAGES = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((EXPECTED / "publishers").glob("*.json"))]


# Focus Taiwan's pre-2020 .aspx pages are left out: its feed no longer links them.
@pytest.mark.parametrize("fields", [page for page in PUBLISHER_PAGES if not page["url"].endswith(".aspx")],
                         ids=lambda fields: fields["url"])
def test_demo_patterns_match_the_article_urls_of_both_markup_generations(fields):
    patterns = {source.name: source.article_url_pattern for source in load_config(DEMO_CONFIG).sources}
    assert re.search(patterns[fields["source"]], fields["url"])
