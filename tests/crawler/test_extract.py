from datetime import datetime

import pytest
from fixture_web import SEED_CASES, SEEDS, expected, normalise_space, page_bytes, site_inventory

from kuroshio.crawler.extract import NoArticleError, extract_article
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
    assert article.title == fields["title"]
    assert list(article.authors) == fields["authors"]
    assert article.published_at == datetime.fromisoformat(fields["published"])
    assert article.published_at.utcoffset() == datetime.fromisoformat(fields["published"]).utcoffset()
    assert article.language == fields["language"]
    assert article.canonical_url == fields["canonical_url"]
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
