import json
from datetime import datetime

import pytest
import trafilatura
from fixture_web import REPO, SEED_CASES, SEEDS, assert_metadata, expected, normalise_space, page_bytes, site_inventory

from kuroshio.crawler.extract import TRAFILATURA_OPTIONS, NoArticleError, extract_article
from kuroshio.crawler.publishers import PUBLISHERS


def extract_case(case: str):
    fields = expected(case)
    return fields, extract_article(
        page_bytes(fields["url"]), url=fields["url"], source=fields["source"], publisher=PUBLISHERS[fields["source"]]
    )


@pytest.mark.parametrize("case", SEED_CASES)
def test_seed_page_text_is_exactly_the_article_body(case):
    fields, article = extract_case(case)
    assert normalise_space(article.text) == normalise_space(fields["body"])


@pytest.mark.parametrize("case", SEED_CASES)
def test_seed_page_text_holds_none_of_the_furniture(case):
    fields, article = extract_case(case)
    for snippet in fields["without"]:
        assert snippet not in article.text, snippet


@pytest.mark.parametrize("case", SEED_CASES)
def test_seed_page_metadata_is_recovered(case):
    fields, article = extract_case(case)
    assert_metadata(article, fields)
    assert article.source == fields["source"]


@pytest.mark.parametrize("case", SEED_CASES)
def test_expected_bodies_are_the_seed_documents_own_paragraphs(case):
    """The golden bodies are taken from fixtures/seeds, not invented: every paragraph is in the seed."""
    seed_text = normalise_space("\n".join(path.read_text(encoding="utf-8") for path in SEEDS.glob("*.txt")))
    for paragraph in expected(case)["body"].split("\n\n"):
        assert normalise_space(paragraph) in seed_text


def test_focus_taiwan_authors_come_from_the_by_line_not_the_organisation():
    _, article = extract_case("focus-taiwan-kung")
    assert article.authors == ("Tseng Yun-ting", "Frances Huang")
    assert "(By" not in article.text and "Enditem" not in article.text


def test_generic_extraction_without_publisher_rules_still_recovers_the_article():
    fields = expected("taiwan-news-lai")
    article = extract_article(page_bytes(fields["url"]), url=fields["url"], source="generic")
    assert normalise_space(article.text) == normalise_space(fields["body"])


def test_feed_date_is_used_only_when_the_page_has_no_structured_date():
    fields = expected("kyodo-ko")
    feed_date = datetime.fromisoformat("2023-06-09T00:00:00+00:00")
    article = extract_article(page_bytes(fields["url"]), url=fields["url"], source="kyodo",
                              feed_published_at=feed_date)
    assert article.published_at == datetime.fromisoformat(fields["published"])

    bare = b"<html><head><title>T</title></head><body><article><h1>Headline</h1>" + b"<p>" + b"Body text. " * 40 + b"</p></article></body></html>"
    assert extract_article(bare, url="http://a.test/1", source="s", feed_published_at=feed_date).published_at == feed_date


def test_a_page_without_a_date_stores_no_date_rather_than_the_fetch_time():
    bare = b"<html><head><title>T</title></head><body><article><h1>Headline</h1><p>" + b"Body text. " * 40 + b"</p></article></body></html>"
    assert extract_article(bare, url="http://a.test/1", source="s").published_at is None


def test_a_video_page_without_article_text_is_no_article():
    [url] = [url for url, page in site_inventory().items() if page["kind"] == "no-article"]
    with pytest.raises(NoArticleError):
        extract_article(page_bytes(url), url=url, source="focus-taiwan", publisher=PUBLISHERS["focus-taiwan"])


def test_off_topic_related_links_box_does_not_reach_the_text():
    [url] = [url for url, page in site_inventory().items()
             if page["kind"] == "off-topic-taiwan" and page["source"] == "focus-taiwan"]
    article = extract_article(page_bytes(url), url=url, source="focus-taiwan", publisher=PUBLISHERS["focus-taiwan"])
    assert "Japan" not in article.text and "Japan" not in article.title


# --- short and partial articles (issue #10): fixtures/hostile/briefs ----------------------------------

BRIEFS_CASE = REPO / "fixtures" / "hostile" / "briefs"
BRIEFS = json.loads((BRIEFS_CASE / "expected.json").read_text(encoding="utf-8"))


def briefs_page(url: str) -> bytes:
    host, path = url.removeprefix("http://").split("/", 1)
    return (BRIEFS_CASE / host / f"{path}.html").read_bytes()


@pytest.mark.parametrize("url", [url for url in BRIEFS["stored"] if url.startswith("http://wire.")])
def test_a_two_or_three_sentence_brief_in_any_of_the_four_languages_is_an_article(url: str) -> None:
    article = extract_article(briefs_page(url), url=url, source="wire", content_type="text/html; charset=utf-8")
    assert (article.text, article.partial) == (BRIEFS["stored"][url]["text"], False)


def test_a_short_brief_is_read_without_trafilaturas_whole_page_rescue() -> None:
    """Below 250 characters trafilatura swaps a body for its "rescue", here the whole page: read that
    way, the Chinese brief would carry the site's navigation (the path this test proves is avoided)."""
    url = "http://wire.briefs.test/zh-tw/news/202512020003"
    rescued = trafilatura.bare_extraction(briefs_page(url).decode("utf-8"), url=url, **TRAFILATURA_OPTIONS)
    assert "首頁" in rescued.text and "日本語" in rescued.text
    article = extract_article(briefs_page(url), url=url, source="wire")
    assert "首頁" not in article.text and article.text == BRIEFS["stored"][url]["text"]


@pytest.mark.parametrize("url", BRIEFS["refused"])
def test_a_page_that_is_no_article_is_refused_with_its_reason(url: str) -> None:
    with pytest.raises(NoArticleError, match=f"^{BRIEFS['refused'][url]}"):
        extract_article(briefs_page(url), url=url, source="wire")


@pytest.mark.parametrize("publisher", [None, "focus-taiwan"])
def test_a_focus_taiwan_archive_teaser_is_its_lead_marked_partial(publisher: str | None) -> None:
    url = "http://focustaiwan.briefs.test/politics/202403150012"
    article = extract_article(briefs_page(url), url=url, source="focus-taiwan",
                              publisher=PUBLISHERS[publisher] if publisher else None)
    assert (article.text, article.partial) == (BRIEFS["stored"][url]["text"], True)


def test_a_page_declared_paywalled_that_serves_its_paid_part_is_whole() -> None:
    """A metered site (the Los Angeles Times on the extraction benchmark) names its paid part and serves it."""
    paragraphs = "".join(f"<p>Paragraph {number} of the story about Taiwan and Japan, told in full here.</p>"
                         for number in range(6))
    declaration = ('{"@type": "NewsArticle", "isAccessibleForFree": false, "hasPart": {"@type": "WebPageElement", '
                   '"isAccessibleForFree": false, "cssSelector": ".paywall"}}')
    page = (f'<html><head><title>T</title><script type="application/ld+json">{declaration}</script></head><body>'
            f'<article><h1>Headline</h1><div class="body paywall">{paragraphs}</div></article></body></html>')
    served = extract_article(page, url="http://a.test/1", source="s")
    assert not served.partial and "Paragraph 5" in served.text
    unserved = extract_article(page.replace("body paywall", "body"), url="http://a.test/1", source="s")
    assert unserved.partial


def test_furniture_spread_over_many_blank_lines_is_still_pruned() -> None:
    # Extraction folds only the start of a long text to see it is too long to be furniture; a banner
    # whose markup is mostly white space is long only before folding, and must still go.
    padding = "\n" + " " * 40
    # No child is furniture alone ("Focus Taiwan", "App", "Download"); the whole is.
    banner = f"<p>{padding * 80}<b>Focus Taiwan</b>{padding * 80}<b>App</b>{padding * 80}<b>Download</b></p>"
    paragraphs = "".join(
        f"<p>Taiwan and Japan signed agreement number {n} on trade and investment in Taipei on Monday, "
        "officials of both governments said after the meeting.</p>"
        for n in range(8)
    )
    page = f"<html><head><title>Taiwan, Japan sign pacts</title></head><body><article><h1>Taiwan, Japan sign pacts</h1>{banner}{paragraphs}</article></body></html>"

    article = extract_article(page, url="https://focustaiwan.tw/politics/202601010001", source="focus-taiwan",
                              publisher=PUBLISHERS["focus-taiwan"])

    assert "agreement number 7" in article.text
    assert "Download" not in article.text
