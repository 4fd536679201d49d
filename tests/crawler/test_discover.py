import re
from datetime import datetime, timezone

import pytest
from fixture_web import page_bytes, site_inventory

from kuroshio.crawler.discover import (
    DiscoveredLink,
    DiscoveryError,
    listing_links,
    parse_date,
    parse_feed,
    parse_lastmod,
    parse_sitemap,
    robots_sitemaps,
)

FEED = "http://feeds.feedburner.test/rsscna/engnews"


def test_rss_feed_links_keep_the_items_own_date_and_offset():
    links = {link.url: link.published_at for link in parse_feed(page_bytes(FEED), url=FEED)}
    seed = "http://focustaiwan.test/business/202512020023?utm_source=feedburner&utm_medium=rss&utm_campaign=engnews"
    assert links[seed] == datetime.fromisoformat("2025-12-02T20:18:00+08:00")
    assert links[seed].utcoffset().total_seconds() == 8 * 3600


def test_atom_feed_links_are_discovered():
    url = "http://www.taiwannews.test/en/atom.xml"
    links = [link.url for link in parse_feed(page_bytes(url), url=url)]
    assert "http://www.taiwannews.test/en/news/6113842" in links


def test_an_html_page_is_not_a_feed():
    with pytest.raises(DiscoveryError):
        parse_feed(page_bytes("http://focustaiwan.test/business"), url="http://focustaiwan.test/business")


def test_a_truncated_feed_still_yields_the_entries_that_parse():
    body = page_bytes(FEED)
    cut = body[: body.index(b"</item>") + len(b"</item>")]
    links = parse_feed(cut, url=FEED)
    assert len(links) == 1


def test_sitemap_index_points_to_the_news_sitemap():
    url = "http://www.taiwannews.test/sitemap.xml"
    sitemap = parse_sitemap(page_bytes(url), url=url)
    assert sitemap.sitemaps == ("http://www.taiwannews.test/sitemap-news.xml",)
    assert sitemap.links == ()


def test_news_sitemap_links_carry_their_publication_dates():
    url = "http://www.taiwannews.test/sitemap-news.xml"
    links = {link.url: link.published_at for link in parse_sitemap(page_bytes(url), url=url).links}
    assert links["http://www.taiwannews.test/en/news/6113842"] == datetime.fromisoformat("2025-05-19T17:45:00+08:00")
    assert "http://www.taiwannews.test/news/6113842" in links


def test_a_sitemap_with_an_external_entity_reads_no_local_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    body = (f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{secret}">]>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://a.test/&x;</loc></url></urlset>')
    with pytest.raises(DiscoveryError, match="declares XML entities") as refused:
        parse_sitemap(body.encode(), url="http://a.test/sitemap.xml")
    assert "TOP-SECRET" not in str(refused.value)


def test_malformed_xml_is_a_discovery_error():
    with pytest.raises(DiscoveryError):
        parse_sitemap(b"<html><body>not a sitemap</body></html>", url="http://a.test/sitemap.xml")


def test_robots_txt_sitemap_lines_are_found():
    url = "http://english.kyodonews.test/robots.txt"
    assert robots_sitemaps(page_bytes(url), url=url) == [DiscoveredLink("http://english.kyodonews.test/sitemap.xml")]


def test_listing_page_links_are_kept_only_when_they_match_the_article_pattern():
    url = "http://english.kyodonews.test/"
    links = {link.url for link in listing_links(page_bytes(url), url=url, pattern=re.compile(r"/articles/-/\d+"))}
    assert links
    assert all(re.search(r"/articles/-/\d+", link) for link in links)
    kyodo_articles = {u for u, page in site_inventory().items() if page["source"] == "kyodo"}
    assert links & kyodo_articles


def test_script_and_file_links_on_a_listing_page_are_never_followed():
    body = b'<html><body><a href="javascript:go(\'/articles/-/1\')">x</a><a href="file:///articles/-/2">y</a>' \
           b'<a href="/articles/-/3">z</a></body></html>'
    links = listing_links(body, url="http://k.test/", pattern=re.compile(r"/articles/-/\d+"))
    assert [link.url for link in links] == ["http://k.test/articles/-/3"]


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Tue, 02 Dec 2025 20:18:00 +0800", "2025-12-02T20:18:00+08:00"),
        ("2025-12-02T12:18:00Z", "2025-12-02T12:18:00+00:00"),
        ("Tue, 02 Dec 2025 12:18:00 GMT", "2025-12-02T12:18:00+00:00"),
    ],
)
def test_feed_dates_parse_with_their_offset(value, iso):
    assert parse_date(value) == datetime.fromisoformat(iso)


@pytest.mark.parametrize("value", ["2025-12-02", "yesterday", "", "2025-12-02T20:18:00"])
def test_dates_without_an_offset_or_unparseable_are_missing_not_guessed(value):
    assert parse_date(value) is None


def test_a_sitemap_keeps_lastmod_apart_from_the_publication_date():
    body = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>http://a.test/news/1</loc><lastmod>2025-12-02T09:00:00+09:00</lastmod>
    <news:news><news:publication_date>2025-11-20T08:00:00+09:00</news:publication_date></news:news></url>
  <url><loc>http://a.test/news/2</loc><lastmod>2025-12-02</lastmod></url>
</urlset>"""
    first, second = parse_sitemap(body, url="http://a.test/sitemap.xml").links
    assert first.published_at == datetime.fromisoformat("2025-11-20T08:00:00+09:00")
    assert first.modified_at == datetime.fromisoformat("2025-12-02T09:00:00+09:00")
    assert (second.published_at, second.modified_at) == (None, datetime(2025, 12, 2, tzinfo=timezone.utc))


def test_a_sitemap_index_gives_each_sitemap_its_lastmod():
    body = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>/sitemaps/2024.xml</loc><lastmod>2024-12-31</lastmod></sitemap>
  <sitemap><loc>/sitemaps/2025.xml</loc></sitemap>
</sitemapindex>"""
    sitemap = parse_sitemap(body, url="http://a.test/sitemap-index.xml")
    assert sitemap.links == ()
    assert sitemap.sitemaps == ("http://a.test/sitemaps/2024.xml", "http://a.test/sitemaps/2025.xml")
    assert [child.modified_at for child in sitemap.children] == [datetime(2024, 12, 31, tzinfo=timezone.utc), None]


def test_a_lastmod_that_is_no_date_is_missing():
    assert parse_lastmod("yesterday") is None
    assert parse_lastmod("") is None
    assert parse_lastmod("2025-12-02T09:00:00+09:00") == datetime.fromisoformat("2025-12-02T09:00:00+09:00")
