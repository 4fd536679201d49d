"""`kuroshio extract URL|FILE` shows what a crawl would store for one page, driving the real command
against the fixture web on 127.0.0.1: the article with its metadata, topics and the publisher rules that
matched; for a page that is no article the reason the crawl records; an inside address refused as the
crawl refuses it (unless it is a configured source's own host); nothing ever stored, and nothing a
hostile page holds reaching the terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixture_web import WEB, kuroshio, write_config

from kuroshio.crawler.scorer import query_digest
from kuroshio.fixtures.server import FixtureWeb

ARTICLE = "http://english.kyodonews.test/articles/-/38544"
ARTICLE_TITLE = "Diet enacts bill to expand support for working parents of young children"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ESCAPES = "\x1b]0;pwned\x07\x1b[2J"
HOSTILE_PAGE = (
    f"<html><head><title>Trade pact {ESCAPES}signed</title></head><body><article>"
    f"<h1>Trade pact {ESCAPES}signed</h1>"
    "<p>Taiwan and Japan signed a trade agreement in Taipei on Monday, officials of both governments said. "
    f"{ESCAPES}The agreement covers semiconductors and farm goods, and Japan will expand its cooperation with "
    "Taiwan over the next five years.</p>"
    "<p>Officials from both sides met in Tokyo last week to finish the text, signed by the two ministers.</p>"
    "</article></body></html>"
)
# Taiwan and Japan named twice each, never together and never in the head: a topic's rules refuse it.
APART_PAGE = (
    "<html><head><title>Port council reviews its plans</title></head><body><article><h1>Port council reviews its plans</h1>"
    + "<p>" + "The council reviewed the port's plans for the coming season at length on Monday. " * 4 + "</p>"
    "<p>Taiwan sent a delegation. The memorandum was signed later. Taiwan will host the next round.</p>"
    "<p>Japan welcomed it. Officials praised the memorandum. Japan said more visits would follow.</p>"
    "</article></body></html>"
)
NO_ARTICLE_PAGE = "<html><head><title>Section</title></head><body><p>Log in.</p></body></html>"
INTRANET = (
    '[[sources]]\nname = "intranet"\nlisting_pages = ["http://intranet.test/"]\narticle_url_pattern = "/news/"\n'
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureWeb]:
    """The fixture web, with a root of hostile pages laid before it."""
    root = tmp_path_factory.mktemp("extract-web")
    news = root / "english.kyodonews.test" / "articles" / "-"
    news.mkdir(parents=True)
    (news / "99001.html").write_text(HOSTILE_PAGE, encoding="utf-8")
    (news / "99002.html").write_text(NO_ARTICLE_PAGE, encoding="utf-8")
    (news / "99003.html").write_text(APART_PAGE, encoding="utf-8")
    intranet = root / "intranet.test" / "news"
    intranet.mkdir(parents=True)
    (intranet / "memo.html").write_bytes((WEB / "english.kyodonews.test" / "articles" / "-" / "38544.html").read_bytes())
    with FixtureWeb(roots=[root, WEB]) as served:
        yield served


@pytest.fixture
def config(tmp_path: Path, web: FixtureWeb) -> Path:
    """The demo sources plus an intranet source, names resolved by a closed hosts table."""
    path = write_config(tmp_path / "kuroshio.toml", database_url=f"sqlite:///{tmp_path / 'kuroshio.db'}",
                        proxy=web.proxy_url)
    text = path.read_text(encoding="utf-8").replace(
        "scrapy_settings = { KUROSHIO_HOSTS = {} }",
        'scrapy_settings = { KUROSHIO_HOSTS = { "intranet.test" = ["10.0.0.5"], "inside.news.test" = ["10.1.2.3"] } }')
    path.write_text(text + "\n" + INTRANET, encoding="utf-8")
    return path


def assert_clean(result) -> None:
    """No traceback and no control character (but line breaks) in what the command printed."""
    assert "Traceback" not in result.stderr
    assert not CONTROL.search(result.stdout.replace("\n", "")), result.stdout
    assert not CONTROL.search(result.stderr.replace("\n", "")), result.stderr


def test_extract_url_shows_the_article_its_metadata_topics_and_publisher_rules(config: Path, tmp_path: Path) -> None:
    result = kuroshio(config, "extract", ARTICLE)
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    lines = result.stdout.splitlines()
    assert f"page:      {ARTICLE} (HTTP 200, text/html; charset=utf-8)" in lines
    assert "source:    kyodo (it holds english.kyodonews.test): publisher rules kyodo" in lines
    assert f"title:     {ARTICLE_TITLE}" in lines
    assert "published: 2023-06-09T11:47:00+09:00" in lines
    assert "language:  en" in lines
    assert "partial:   no" in lines
    assert "topics:    taiwan-japan not matched: nothing names (@Taiwan OR 台日 OR 日台" in "\n".join(lines)
    assert any(line.startswith("  drop_lines ") and "1 matched, first: '© Kyodo News." in line for line in lines)
    assert any(line.startswith("  date_formats %b %d, %Y - %H:%M: 1 matched") for line in lines)
    assert "Japan's Diet on Friday enacted a bill" in result.stdout
    assert not (tmp_path / "kuroshio.db").exists()  # nothing stored, not even a store created


def test_extract_json_matches_what_the_crawl_stores(config: Path) -> None:
    result = kuroshio(config, "extract", ARTICLE, "--format", "json")
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    crawl = kuroshio(config, "crawl", "--source", "kyodo")
    assert crawl.returncode == 0, crawl.stderr
    stored = kuroshio(config, "articles", "show", ARTICLE, "--format", "json")
    assert stored.returncode == 0, stored.stderr
    article = json.loads(stored.stdout)
    for key in ("title", "url", "canonical_url", "published", "authors", "language", "partial", "text"):
        assert page["article"][key] == article[key], key
    assert page["topics"] == article["topics"] == []
    (refused,) = page["topics_not_matched"]
    assert refused["name"] == "taiwan-japan" and refused["reason"].startswith("nothing names (@Taiwan OR")
    assert page["source"] == "kyodo" and page["publisher"] == "kyodo"
    assert {rule["kind"] for rule in page["rules"]} >= {"prune_texts", "drop_lines", "date_formats"}


def test_extract_file_with_url_and_source_reads_it_as_that_source_would(config: Path, tmp_path: Path) -> None:
    saved = tmp_path / "page.html"
    saved.write_bytes((WEB / "english.kyodonews.test" / "articles" / "-" / "38544.html").read_bytes())
    result = kuroshio(config, "extract", str(saved), "--url", ARTICLE, "--source", "kyodo")
    assert result.returncode == 0, result.stderr
    assert f"page:      {ARTICLE}" in result.stdout.splitlines()
    assert f"canonical: {ARTICLE}" in result.stdout.splitlines()
    assert "published: 2023-06-09T11:47:00+09:00" in result.stdout.splitlines()
    generic = kuroshio(config, "extract", str(saved))
    assert generic.returncode == 0, generic.stderr
    assert "source:    none (a file without --url): generic extraction" in generic.stdout.splitlines()
    assert "rules:" not in generic.stdout


def test_a_page_that_is_no_article_gives_the_crawls_reason_and_exit_1(config: Path) -> None:
    url = "http://english.kyodonews.test/articles/-/99002"
    result = kuroshio(config, "extract", url)
    assert result.returncode == 1, result.stderr
    assert_clean(result)
    [reason] = [line for line in result.stdout.splitlines() if line.startswith("result:")]
    crawl_reason = reason.removeprefix("result:    no article: ")
    assert crawl_reason.startswith("no content: ")
    # The same words as the crawl's run record for that page.
    assert kuroshio(config, "extract", url, "--format", "json").stdout.count(crawl_reason) == 1


def test_a_hostile_title_and_text_reach_the_terminal_without_escapes(config: Path) -> None:
    result = kuroshio(config, "extract", "http://english.kyodonews.test/articles/-/99001")
    assert result.returncode == 0, result.stderr
    assert_clean(result)
    assert "title:     Trade pact ]0;pwned [2Jsigned" in result.stdout.splitlines()
    as_json = kuroshio(config, "extract", "http://english.kyodonews.test/articles/-/99001", "--format", "json")
    assert "\x1b" not in as_json.stdout  # JSON escapes every control character


@pytest.mark.parametrize(("url", "why"), [
    ("http://169.254.169.254/latest/meta-data/iam/", "refused: 169.254.169.254 is a cloud metadata address"),
    ("http://127.0.0.1:6379/", "refused: 127.0.0.1 is a loopback address"),
    ("http://inside.news.test/news/memo", "refused: inside.news.test resolves to 10.1.2.3, a private address"),
])
def test_an_inside_address_is_refused_as_the_crawl_refuses_it(config: Path, web: FixtureWeb, url: str,
                                                              why: str) -> None:
    before = len(web.requests)
    result = kuroshio(config, "extract", url)
    assert result.returncode == 1, result.stderr
    assert_clean(result)
    assert f"result:    no article: {why}" in result.stdout.splitlines()
    assert web.requests[before:] == []


def test_a_configured_sources_own_inside_host_is_read(config: Path, web: FixtureWeb) -> None:
    result = kuroshio(config, "extract", "http://intranet.test/news/memo")
    assert result.returncode == 0, result.stderr
    assert "source:    intranet (it holds intranet.test): generic extraction" in result.stdout.splitlines()
    assert f"title:     {ARTICLE_TITLE}" in result.stdout.splitlines()


@pytest.mark.parametrize(("args", "said"), [
    (["/no/such/page.html"], "kuroshio: /no/such/page.html: no such file"),
    (["ftp://example.test/page"], "kuroshio: 'ftp://example.test/page': only http(s) URLs are fetched"),
    (["http://example.test:99999/"], "kuroshio: 'http://example.test:99999/': not a usable URL"),
    ([ARTICLE, "--source", "nosuch"], "unknown source 'nosuch' (configured: focus-taiwan, kyodo, taiwan-news, intranet)"),
])
def test_bad_arguments_are_one_line_and_exit_2(config: Path, args: list[str], said: str) -> None:
    result = kuroshio(config, "extract", *args)
    assert result.returncode == 2
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_extract_says_why_a_topics_scorer_admitted_what_its_rules_refused(config: Path, tmp_path: Path) -> None:
    query = "Taiwan AND Japan"
    scorer = tmp_path / "memo.json"
    scorer.write_text(json.dumps({"format": 1, "name": "memo", "query_sha256": query_digest(query), "intercept": 0.0,
                                  "weights": {"b:memorandum": 6.0}, "veto_below": 0.25, "rescue_from": 0.85}),
                      encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8") + f'\n[[topics]]\nname = "memo"\nquery = "{query}"\n'
                      f'scorer = "{scorer}"\n[[topics]]\nname = "rules"\nquery = "{query}"\n', encoding="utf-8")
    url = "http://english.kyodonews.test/articles/-/99003"

    result = kuroshio(config, "extract", url)
    record = json.loads(kuroshio(config, "extract", url, "--format", "json").stdout)

    assert result.returncode == 0, result.stderr
    topics = next(line for line in result.stdout.splitlines() if line.startswith("topics:"))
    assert topics.startswith("topics:    memo (score 2: Japan, Taiwan), admitted by the scorer (1.00 >= 0.85), "
                             "though by its rules its sides are named apart: ")
    assert '; most for: "memorandum" +6.00; rules not matched: its sides are named apart' in topics
    assert [(topic["name"], topic["admitted_by_scorer"][:22]) for topic in record["topics"]] == [
        ("memo", "admitted by the scorer")]


def test_articles_show_says_why_each_other_topic_refuses_a_stored_article_or_that_it_matches_now(config: Path) -> None:
    crawl = kuroshio(config, "crawl", "--source", "kyodo")
    assert crawl.returncode == 0, crawl.stderr
    shown = kuroshio(config, "articles", "show", ARTICLE)
    assert shown.returncode == 0, shown.stderr
    assert "\nnot matched: taiwan-japan: nothing names (@Taiwan OR 台日 OR 日台" in shown.stdout
    # A topic configured after the crawl: the stored matches are older than its definition.
    config.write_text(config.read_text(encoding="utf-8") + '\n[[topics]]\nname = "diet"\nquery = "Diet"\nmin_score = 1\n',
                      encoding="utf-8")

    shown = kuroshio(config, "articles", "show", ARTICLE)
    record = json.loads(kuroshio(config, "articles", "show", ARTICLE, "--format", "json").stdout)

    assert shown.returncode == 0, shown.stderr
    assert "\nmatches now: diet (" in shown.stdout and "kuroshio topics rematch" in shown.stdout
    assert [topic["name"] for topic in record["topics_matching_now"]] == ["diet"]
    assert record["topics"] == [] and record["topics_not_matched"] == []
