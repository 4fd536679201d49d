"""Publisher rules against pages that mirror what each real site serves, in each markup generation.

The pages are a fixture web of their own (fixtures/publishers/<host>/, at the paths the real sites
use, served by `FixtureWeb` like the demo web but outside it: their links lead to the rest of the real
sites, which the demo's closed world does not hold). Their expectations are in
fixtures/expected/publishers/<case>.json beside the exact body (<case>.txt): the fields, the CMS
generation, and the furniture ("without") that the page shows and the text must not hold.
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

import lxml.html
import pytest
from fixture_web import EXPECTED, REPO, SEED_CASES, WEB, assert_metadata, expected, normalise_space
from fixture_web import page_bytes as demo_page_bytes

from kuroshio.crawler.extract import date_stamp, extract_article
from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.fixtures.server import FixtureWeb

PUBLISHER_CASES_DIR = EXPECTED / "publishers"
PUBLISHER_CASES = sorted(path.stem for path in PUBLISHER_CASES_DIR.glob("*.json"))
PUBLISHER_WEB = REPO / "fixtures" / "publishers"


def page_bytes(url: str) -> bytes:
    """The raw bytes served for `url`: a publisher page, or else a demo-web page (a seed article)."""
    parts = urlsplit(url)
    path = PUBLISHER_WEB / (parts.hostname or "") / parts.path.strip("/")
    for candidate in (path, path.with_name(path.name + ".html")):
        if candidate.is_file():
            return candidate.read_bytes()
    return demo_page_bytes(url)


def publisher_case(case: str) -> dict:
    """A publisher case's expected fields, with its body text loaded as `body`."""
    fields = json.loads((PUBLISHER_CASES_DIR / f"{case}.json").read_text(encoding="utf-8"))
    fields["body"] = (PUBLISHER_CASES_DIR / fields["body_file"]).read_text(encoding="utf-8")
    return fields


def extract(fields: dict, page: bytes | None = None, **options):
    """`extract_article` on the case's page (or `page`) with its publisher's rules."""
    return extract_article(page if page is not None else page_bytes(fields["url"]), url=fields["url"],
                           source=fields["source"], publisher=PUBLISHERS[fields["source"]], **options)


def without_class_names(page: bytes) -> bytes:
    """The page with every class and id attribute gone, as after a redesign that renames them all."""
    return re.sub(rb'\s(?:class|id)="[^"]*"', b"", page)


def visible_text(page: bytes) -> str:
    """What a reader sees of the page (tags, scripts and styles gone), white space folded."""
    text = re.sub(rb"(?s)<(script|style)\b.*?</\1>|<[^>]+>", b" ", page).decode("utf-8")
    return normalise_space(text.replace("&#x27;", "'").replace("&amp;", "&").replace("&copy;", "©"))


def structured_dates(page: bytes) -> list:
    """Every date the markup states for machines: meta tags, JSON-LD, <time datetime>."""
    return lxml.html.fromstring(page).xpath(
        "//meta[contains(@property, 'published') or contains(@name, 'date') or @itemprop = 'datePublished']"
        " | //script[@type = 'application/ld+json'] | //time[@datetime]")


def assert_is_the_article(article, fields: dict) -> None:
    assert normalise_space(article.text) == normalise_space(fields["body"])
    for snippet in fields["without"]:
        assert snippet not in article.text, snippet
    assert_metadata(article, fields)


def test_every_publisher_has_fixture_pages_of_two_markup_generations_or_more():
    generations: dict[str, set[str]] = {}
    for case in PUBLISHER_CASES:
        fields = publisher_case(case)
        generations.setdefault(fields["source"], set()).add(fields["generation"])
    assert set(generations) == set(PUBLISHERS)
    assert all(len(found) >= 2 for found in generations.values()), generations


@pytest.mark.parametrize("case", PUBLISHER_CASES)
def test_publisher_page_extracts_to_exactly_the_article_and_its_metadata(case):
    fields = publisher_case(case)
    assert_is_the_article(extract(fields), fields)


@pytest.mark.parametrize("case", PUBLISHER_CASES)
def test_publisher_page_shows_the_furniture_the_text_must_not_hold(case):
    """The "without" snippets are on the page (so the golden test can fail) and not in the body."""
    fields = publisher_case(case)
    shown = visible_text(page_bytes(fields["url"]))
    for snippet in fields["without"]:
        assert snippet in shown, snippet
        assert snippet not in fields["body"], snippet


@pytest.mark.parametrize("case", PUBLISHER_CASES + list(SEED_CASES))
def test_furniture_is_told_by_its_words_not_by_class_names(case):
    """With every class and id renamed away, each page still yields exactly its article and date."""
    fields = publisher_case(case) if case in PUBLISHER_CASES else expected(case)
    article = extract(fields, without_class_names(page_bytes(fields["url"])))
    assert_is_the_article(article, fields)


def test_publisher_pages_are_served_as_the_real_sites_serve_them():
    with FixtureWeb(roots=(PUBLISHER_WEB,)) as web:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))
        for case in PUBLISHER_CASES:
            url = publisher_case(case)["url"]
            with opener.open(url, timeout=10) as response:
                assert response.status == 200, url
                assert response.headers["Content-Type"] == "text/html; charset=utf-8", url
                assert response.read() == page_bytes(url), url


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["focus-taiwan-current", "focus-taiwan-old", "taiwan-news-undated", "taiwan-news-old"])
def test_a_page_without_a_structured_date_is_dated_by_its_visible_stamp_in_the_publishers_zone(case):
    fields = publisher_case(case)
    page = page_bytes(fields["url"])
    assert not structured_dates(page)

    assert extract(fields).published_at == datetime.fromisoformat(fields["published"])
    # Without the publisher's rules the stamp is not read: the date comes from the rules, not luck.
    assert extract_article(page, url=fields["url"], source="generic").published_at is None


def test_a_structured_date_without_an_offset_is_read_in_the_publishers_zone_and_ignored_without_one():
    fields = publisher_case("kyodo-old")
    page = page_bytes(fields["url"])
    assert b'"datePublished":"2023-06-16T17:05:00"' in page

    assert extract(fields).published_at == datetime.fromisoformat("2023-06-16T17:05:00+09:00")
    assert extract_article(page, url=fields["url"], source="generic").published_at is None


def test_kyodo_credit_line_dates_a_page_whose_structured_data_is_gone():
    fields = publisher_case("kyodo-old")
    page = re.sub(rb'<script type="application/ld\+json">.*?</script>', b"", page_bytes(fields["url"]))
    assert not structured_dates(page)

    assert extract(fields, page).published_at == datetime.fromisoformat("2023-06-16T17:05:00+09:00")


def test_the_pages_own_stamp_comes_before_the_feeds_date():
    fields = publisher_case("taiwan-news-undated")
    sitemap_lastmod = datetime.fromisoformat("2024-06-01T00:00:00+08:00")  # frozen: never a publication date
    assert extract(fields, feed_published_at=sitemap_lastmod).published_at == datetime.fromisoformat(fields["published"])


def test_a_structured_date_with_its_offset_is_kept_as_given():
    fields = publisher_case("taiwan-news-current")
    page = page_bytes(fields["url"]).replace(b"2024-05-30T15:12:00+08:00", b"2024-05-30T07:12:00+00:00")
    published = extract(fields, page).published_at
    assert published == datetime.fromisoformat("2024-05-30T15:12:00+08:00")
    assert published.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("text", "formats", "stamp"),
    [
        ("Mar. 31, 2024 20:29", ("%b %d, %Y %H:%M",), datetime(2024, 3, 31, 20, 29)),
        ("Sept. 4, 2024 09:05", ("%b %d, %Y %H:%M",), datetime(2024, 9, 4, 9, 5)),
        ("May 19, 2025 17:45", ("%b %d, %Y %H:%M",), datetime(2025, 5, 19, 17, 45)),
        ("12/02/2025 08:18 PM", ("%m/%d/%Y %I:%M %p",), datetime(2025, 12, 2, 20, 18)),
        ("KYODO NEWS - Jun 8, 2023 - 19:23 | All, Japan", ("%b %d, %Y - %H:%M",), datetime(2023, 6, 8, 19, 23)),
        ("Updated 2 hours ago", ("%b %d, %Y %H:%M",), None),
        ("02/30/2025 08:18 PM", ("%m/%d/%Y %I:%M %p",), None),
    ],
)
def test_date_stamp_reads_the_publishers_formats_only(text, formats, stamp):
    assert date_stamp(text, formats) == stamp


# --- authors and furniture -------------------------------------------------------------------


def test_the_agencys_credit_is_never_an_author():
    fields = publisher_case("kyodo-old")
    page = page_bytes(fields["url"])
    assert b'"author":{"@type":"Organization","name":"KYODO NEWS"}' in page
    assert extract(fields).authors == ()
    assert PUBLISHERS["kyodo"].persons(["KYODO NEWS", "Aya Morimoto", "Kyodo News"]) == ("Aya Morimoto",)
    assert PUBLISHERS["taiwan-news"].element_authors("Ryan Drillsma, Taiwan News, Staff Writer") == ("Ryan Drillsma",)
    assert PUBLISHERS["focus-taiwan"].element_authors("(By Lee Hsien-feng and Elizabeth Hsu)") == (
        "Lee Hsien-feng", "Elizabeth Hsu")


def test_focus_taiwan_bare_enditem_and_desk_coded_enditem_are_both_dropped():
    current, old = publisher_case("focus-taiwan-current"), publisher_case("focus-taiwan-old")
    assert b"<p>Enditem/</p>" in page_bytes(current["url"]) and b"<p>Enditem/ls</p>" in page_bytes(old["url"])
    assert "Enditem" not in extract(current).text and "Enditem" not in extract(old).text


def test_a_body_paragraph_is_never_pruned_for_its_words():
    """Furniture texts are matched whole and short: a paragraph quoting a banner's words stays."""
    fields = publisher_case("focus-taiwan-current")
    quoted = ("<p>Asked about the site, the agency said: We value your privacy and readers who click "
              "Got it. are told how their data is used.</p>")
    page = page_bytes(fields["url"]).replace(b"<p>(By Huang", quoted.encode() + b"<p>(By Huang")
    assert quoted[3:-4] in extract(fields, page).text


def test_publisher_pages_stay_out_of_the_demo_web():
    """The demo web is a closed world whose every link resolves; these pages link to the real sites' rest."""
    inventory = json.loads((EXPECTED / "site.json").read_text(encoding="utf-8"))
    for case in PUBLISHER_CASES:
        url = publisher_case(case)["url"]
        parts = urlsplit(url)
        assert url not in inventory
        assert not (WEB / (parts.hostname or "") / parts.path.strip("/")).exists()
        assert not (WEB / (parts.hostname or "") / (parts.path.strip("/") + ".html")).exists()
