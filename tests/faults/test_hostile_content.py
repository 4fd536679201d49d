"""Bad input 11: hostile content — a title holding CR/LF and `Bcc:`, `<script>` in the body, a 10 kB
title. Nothing of it reaches a mail header or runs in the digest's HTML; stored text is plain text; the
long title is cut; `kuroshio articles list` stays one line per article.

The fixtures are `fixtures/hostile/hostile-content/` (see its README). The crawl is the real command
in a subprocess; the listing and the digest are the real click commands, run in this process.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.html
import pytest
from fixture_web import kuroshio_in_process
from hostile_crawl import HOSTILE, MeasuredCrawl, crawl_measured, hostile_config, last_run, stored_articles

from kuroshio.crawler.extract import MAX_TITLE_CHARS
from kuroshio.fixtures.server import FixtureWeb

pytestmark = pytest.mark.faults

CASE = HOSTILE / "hostile-content"
PAGES = CASE / "evil.news.test" / "news"
INJECTION = "http://evil.news.test/news/injection"
LONG_TITLE = "http://evil.news.test/news/long-title"
SOURCE = (
    '[[sources]]\nname = "evil"\nfeeds = ["http://evil.news.test/feed.xml"]\nrobots_sitemaps = false\n\n'
    '[smtp]\nhost = "127.0.0.1"\nport = 9\nsender = "Kuroshio <kuroshio@example.org>"\n\n'
    '[[digests]]\nname = "morning"\nto = ["analyst@example.org"]\ntimezone = "Asia/Taipei"\n'
)
# Everything the digest writes in its header; anything else came from content.
DIGEST_HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "List-Id", "Auto-Submitted", "MIME-Version",
                  "Content-Type"}
SCRIPT_MARKERS = ("SCRIPT_IN_BODY_MARKER", "SCRIPT_IN_ARTICLE_MARKER", "ONERROR_MARKER", "document.cookie",
                  "alert(", "attacker.test")


@dataclass(frozen=True)
class HostileCrawl:
    crawl: MeasuredCrawl
    run: dict
    articles: dict[str, dict]
    table: str
    digest: bytes
    digest_html: str


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCrawl]:
    folder = tmp_path_factory.mktemp("hostile-content")
    with FixtureWeb(roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = crawl_measured(config)
    articles = {article["url"]: article for article in stored_articles(config)}
    table = kuroshio_in_process(config, "articles", "list", "--all")
    assert table.returncode == 0, table.stderr
    digest = kuroshio_in_process(config, "digest", "morning", "--out", str(folder / "digest.eml"))
    assert digest.returncode == 0, digest.stderr
    html_part = kuroshio_in_process(config, "digest", "morning", "--out", str(folder / "digest.html"))
    assert html_part.returncode == 0, html_part.stderr
    yield HostileCrawl(crawl, last_run(folder, "evil"), articles, table.stdout,
                       (folder / "digest.eml").read_bytes(), (folder / "digest.html").read_text(encoding="utf-8"))


def test_the_pages_really_carry_the_attacks() -> None:
    """The bad path is real: the parsed pages hold CR/LF + Bcc in their titles, live scripts, a 10 kB title."""
    injection = lxml.html.fromstring((PAGES / "injection.html").read_bytes())
    [og_title] = injection.xpath("//meta[@property='og:title']/@content")
    assert "\r\nBcc: victim@example.org\r\n" in og_title
    assert "\r\nBcc: victim@example.org" in injection.findtext(".//title")
    assert len(injection.xpath("//script")) == 4 and injection.xpath("//img/@onerror")
    long_page = lxml.html.fromstring((PAGES / "long-title.html").read_bytes())
    assert len(long_page.findtext(".//title")) >= 10_000


def test_both_articles_are_stored(hostile_crawl: HostileCrawl) -> None:
    assert hostile_crawl.crawl.returncode == 0, hostile_crawl.crawl.stderr
    assert hostile_crawl.run["status"] == "ok" and hostile_crawl.run["errors"] == []
    assert set(hostile_crawl.articles) == {INJECTION, LONG_TITLE}


def test_stored_titles_are_one_line_and_the_long_one_is_cut_with_an_ellipsis(hostile_crawl: HostileCrawl) -> None:
    injection = hostile_crawl.articles[INJECTION]["title"]
    assert injection == "Taiwan and Japan sign fisheries deal Bcc: victim@example.org X-Injected: 1"
    long_title = hostile_crawl.articles[LONG_TITLE]["title"]
    assert len(long_title) <= MAX_TITLE_CHARS and long_title.endswith("…")
    assert long_title.startswith("Taiwan and Japan agree on a very long list")
    for article in hostile_crawl.articles.values():
        assert not re.search(r"[\x00-\x1f\x7f-\x9f]", article["title"])


def test_stored_text_is_plain_text_without_script_code(hostile_crawl: HostileCrawl) -> None:
    for article in hostile_crawl.articles.values():
        assert not re.search(r"<\s*/?\s*[a-z]", article["text"], re.IGNORECASE), article["text"]
        assert not any(marker in article["text"] for marker in SCRIPT_MARKERS)
    injection = hostile_crawl.articles[INJECTION]["text"]
    assert "signed a fisheries agreement on Tuesday" in injection and "two years ago" in injection
    assert "agree on a very long list" not in hostile_crawl.articles[LONG_TITLE]["text"]  # the h1 is not body


def test_no_title_reaches_a_mail_header(hostile_crawl: HostileCrawl) -> None:
    message = email.message_from_bytes(hostile_crawl.digest, policy=email.policy.default)
    assert set(message.keys()) == DIGEST_HEADERS
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "victim@example.org" not in str(message["To"])
    head = hostile_crawl.digest.split(b"\r\n\r\n", 1)[0]
    assert b"victim@example.org" not in head
    assert "Bcc: victim@example.org" in message.get_body(("plain",)).get_content()  # shown, as text


def test_nothing_runs_in_the_digest_html(hostile_crawl: HostileCrawl) -> None:
    page = lxml.html.fromstring(hostile_crawl.digest_html)
    assert page.xpath("//script") == []
    assert not [name for element in page.iter() if isinstance(element.tag, str)
                for name in element.attrib if name.lower().startswith("on")]
    assert not [href for href in page.xpath("//@href | //@src") if not href.startswith(("http:", "https:", "mailto:"))]
    assert not any(marker in hostile_crawl.digest_html for marker in SCRIPT_MARKERS)
    assert "Bcc: victim@example.org" in page.text_content()  # the title is there, as text


def test_the_article_table_is_one_line_per_article(hostile_crawl: HostileCrawl) -> None:
    lines = hostile_crawl.table.splitlines()
    assert len(lines) == 2 + len(hostile_crawl.articles)  # header, rule, one row each
    assert all(len(line) < 400 for line in lines)
