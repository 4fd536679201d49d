"""Bad input 1: Big5, GBK, Shift_JIS and EUC-JP pages — charset in <meta> only, nowhere, or wrong in the
HTTP header — are stored as correct Unicode and match the Taiwan–Japan topic.

The fixtures are `fixtures/hostile/legacy-encodings/` (see its README); the crawl is the real command.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import normalise_space
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles
from scrapy.http import HtmlResponse

from kuroshio.crawler.decode import NotHtmlError, decode_html
from kuroshio.crawler.extract import extract_article
from kuroshio.fixtures.server import FixtureWeb

pytestmark = pytest.mark.faults

CASE = HOSTILE / "legacy-encodings"
EXPECTED: dict[str, dict] = json.loads((CASE / "expected.json").read_text(encoding="utf-8"))
WRONG_HEADER = [url for url, page in EXPECTED.items() if page["variant"] == "wrong-header"]
SOURCE = '[[sources]]\nname = "legacy"\nsitemaps = ["http://legacy.news.test/sitemap.xml"]\nrobots_sitemaps = false\n'
# Characters a CJK page decoded with a Western single-byte codec is made of (Latin-1 block, C1 controls).
MOJIBAKE = re.compile("[\u0080-\u00ff\ufffd]")


def served(url: str) -> tuple[bytes, str]:
    """The bytes and the Content-Type the fixture server answers for `url`."""
    page = CASE / url.removeprefix("http://")
    sidecar = json.loads(page.with_name(page.name + ".headers.json").read_text(encoding="utf-8"))
    return page.read_bytes(), sidecar["headers"]["Content-Type"]


def expected_source(page: dict) -> str:
    """Which evidence must choose the encoding (see crawler.extract)."""
    return "meta" if page["meta"] else "detected"


@pytest.mark.parametrize("url", EXPECTED)
def test_fixture_pages_are_really_in_their_legacy_encoding_and_not_utf8(url):
    page = EXPECTED[url]
    body, content_type = served(url)
    assert page["title"].encode(page["encoding"]) in body
    assert "\ufffd" in body.decode("utf-8", errors="replace")
    assert ("charset" in content_type) == (page["variant"] == "wrong-header")
    if page["meta"]:
        assert page["meta"].encode("ascii") in body
    else:
        assert b"charset=" not in body.lower()


@pytest.mark.parametrize("url", WRONG_HEADER)
def test_scrapys_own_decoding_garbles_a_page_whose_header_names_the_wrong_charset(url):
    """The bad path is real: `response.text` believes the header, so it cannot be what extraction reads."""
    body, content_type = served(url)
    text = HtmlResponse(url, body=body, headers={"Content-Type": content_type}).text
    assert EXPECTED[url]["with"][0] not in text
    assert MOJIBAKE.search(text)


@pytest.mark.parametrize("url", EXPECTED)
def test_decoding_recovers_each_page_from_the_right_evidence(url):
    page = EXPECTED[url]
    body, content_type = served(url)
    decoded = decode_html(body, content_type=content_type)
    assert decoded.source == expected_source(page)
    assert not MOJIBAKE.search(decoded.text)
    for snippet in page["with"]:
        assert snippet in decoded.text


def test_a_byte_order_mark_beats_header_and_meta():
    body = "\ufeff<html><head><meta charset='big5'><title>台灣</title></head></html>".encode("utf-8")
    decoded = decode_html(body, content_type="text/html; charset=big5")
    assert (decoded.source, decoded.encoding) == ("bom", "utf-8")
    assert "台灣" in decoded.text and "\ufeff" not in decoded.text


def test_a_right_header_beats_a_wrong_meta():
    body = "<html><head><meta charset='utf-8'></head><body><p>Élection à Québec : déjà réglée.</p></body></html>"
    decoded = decode_html(body.encode("cp1252"), content_type="text/html; charset=iso-8859-1")
    assert (decoded.source, decoded.encoding) == ("http", "cp1252")
    assert "Élection à Québec : déjà réglée." in decoded.text


def test_a_utf8_page_with_its_header_is_taken_at_its_word():
    body = "<html><body><p>台日關係 日台関係</p></body></html>".encode()
    assert decode_html(body, content_type="text/html; charset=UTF-8").source == "http"


def test_an_xhtml_page_declaring_shift_jis_in_its_xml_declaration_is_extracted():
    """lxml refuses a str with an encoding declaration; the decoded page is handed over as UTF-8 bytes."""
    url = next(url for url, page in EXPECTED.items() if page["encoding"] == "shift_jis" and page["meta"])
    body, _ = served(url)
    xhtml = b'<?xml version="1.0" encoding="Shift_JIS"?>\n' + body
    article = extract_article(xhtml, url=url, source="s", content_type="application/xhtml+xml")
    assert EXPECTED[url]["with"][0] in article.text


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (gzip.compress(b"<html><body>" + b"x" * 500 + b"</body></html>"), "gzip"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 64, "zstd"),
        (b"BZh91AY&SY" + b"\0" * 64, "bzip2"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
    ],
    ids=["gzip", "zstd", "bzip2", "png"],
)
def test_a_compressed_or_binary_body_is_not_html(body, kind):
    with pytest.raises(NotHtmlError, match=kind):
        decode_html(body, content_type="text/html")


@dataclass(frozen=True)
class LegacyCrawl:
    folder: Path
    crawl: MeasuredCrawl
    articles: dict[str, dict]


@pytest.fixture(scope="module")
def legacy_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LegacyCrawl]:
    folder = tmp_path_factory.mktemp("legacy")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
        assert sorted(request.url for request in web.requests if request.url in EXPECTED) == sorted(EXPECTED)
    yield LegacyCrawl(folder, crawl, {article["url"]: article for article in stored_articles(config)})


def test_the_crawl_stores_every_legacy_page_once_without_errors(legacy_crawl):
    assert legacy_crawl.crawl.returncode == 0, legacy_crawl.crawl.stderr
    assert sorted(legacy_crawl.articles) == sorted(EXPECTED)
    run = last_run(legacy_crawl.folder, "legacy")
    assert (run["status"], run["errors"], run["articles_new"]) == ("ok", [], len(EXPECTED))


@pytest.mark.parametrize("url", EXPECTED)
def test_stored_title_and_text_are_correct_unicode(legacy_crawl, url):
    page, article = EXPECTED[url], legacy_crawl.articles[url]
    assert normalise_space(article["title"]) == normalise_space(page["title"])
    assert not MOJIBAKE.search(article["title"] + article["text"])
    for snippet in page["with"]:
        assert snippet in article["text"]
    assert article["published"] == page["published"]


@pytest.mark.parametrize("url", EXPECTED)
def test_the_multilingual_taiwan_japan_topic_matches_every_legacy_page(legacy_crawl, url):
    assert [topic["name"] for topic in legacy_crawl.articles[url]["topics"]] == ["taiwan-japan"]
