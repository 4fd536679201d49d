"""The web view (kuroshio.digest.web) through Starlette's TestClient, on SQLite and PostgreSQL: every page
answers, listings page newest first, search reads the topic query syntax, a hostile article is inert,
nothing but GET and HEAD is routed, and no page writes to the store (which refuses the web view's writes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import feedparser
import pytest
from digest_support import SEEN_AT, seed_article
from fixture_web import SEED_CASES
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from kuroshio.digest.web.app import FEED_LIMIT, PAGE_SIZE, create_app
from kuroshio.digest.web.store import read_only_engine, read_only_sessions, schema_problem
from kuroshio.storage.digests import finish_digest_attempt, mark_digest_delivered, start_digest_attempt
from kuroshio.storage.models import Base
from kuroshio.storage.records import ExtractedArticle
from kuroshio.storage.runs import finish_run, start_run

TOPIC_NAMES = ("taiwan-japan", "semiconductors")
SOURCE_NAMES = ("focus-taiwan", "kyodo", "taiwan-news")
HOSTILE_TITLE = "<script>alert(1)</script> Taiwan and Japan \u202eTSMC\u202c <img src=x onerror=alert(2)>"
HOSTILE_TEXT = ('Taiwan and Japan signed "<b>an accord</b>" on chips.\n'
                '<script>document.title="owned"</script> TSMC \u202egnos\u202c & Japan </p><p onclick="x()">')
JAPANESE_TITLE = "台湾と日本、半導体で協力　熊本工場が稼働"
JAPANESE_TEXT = "台湾の半導体大手ＴＳＭＣは熊本県で新工場を稼働させた。日本政府は補助金を出した。台湾と日本の協力が深まる。"
FILLER = 30  # articles of the semiconductors topic beyond the seeds: two pages of it


@dataclass
class Archive:
    """What the seeded store holds, by name."""

    seeds: dict[str, int]
    hostile: int
    japanese: int
    copy_of_first_seed: int
    fillers: list[int]


def _article(index: int) -> ExtractedArticle:
    return ExtractedArticle(
        url=f"https://chips.example/news/{index}", canonical_url=f"https://chips.example/news/{index}",
        source="chips-daily", title=f"Semiconductor output report number {index}",
        text=f"Semiconductor makers reported output for week {index}. Chip demand stayed strong.",
        published_at=datetime(2025, 11, 1, tzinfo=timezone.utc) + timedelta(hours=index), language="en")


@pytest.fixture
def archive(sessions: sessionmaker[Session], store) -> Archive:
    seeds = {case: store(seed_article(case)) for case in SEED_CASES}
    first = seed_article(SEED_CASES[0])
    copy = store(seed_article(SEED_CASES[0], url="https://syndication.example/copy", canonical_url="https://syndication.example/copy",
                              source="syndicator", text=first.text + "\n\nDistributed by a syndicator."))
    hostile = store(ExtractedArticle(url="https://hostile.example/a?x=\"'><script>", canonical_url="javascript:alert(3)",
                                     source="hostile", title=HOSTILE_TITLE, text=HOSTILE_TEXT, language='en"><script>',
                                     authors=("<b>Mallory</b>",), published_at=datetime(2025, 12, 2, tzinfo=timezone.utc)))
    japanese = store(ExtractedArticle(url="https://nikkei.example/ja/1", canonical_url="https://nikkei.example/ja/1",
                                      source="nikkei", title=JAPANESE_TITLE, text=JAPANESE_TEXT, language="ja",
                                      published_at=datetime(2025, 12, 2, 18, 0, tzinfo=timezone(timedelta(hours=9)))))
    fillers = [store(_article(index)) for index in range(FILLER)]
    with sessions() as session:
        ok = start_run(session, "focus-taiwan", now=SEEN_AT)
        finish_run(session, ok, status="ok", pages_fetched=4, articles_new=1, articles_relevant=1, duplicates_skipped=0,
                   errors=[], now=SEEN_AT + timedelta(seconds=3))
        for minute in range(3):
            run = start_run(session, "kyodo", now=SEEN_AT + timedelta(minutes=minute))
            finish_run(session, run, status="failed", pages_fetched=1, articles_new=0, articles_relevant=0,
                       duplicates_skipped=0, errors=[{"url": "http://english.kyodonews.test/<b>", "reason": "HTTP 503"}],
                       message="every listing page failed <script>", now=SEEN_AT + timedelta(minutes=minute, seconds=5))
        sent = start_digest_attempt(session, "morning", pid=None, now=SEEN_AT)
        mark_digest_delivered(session, sent, article_ids=list(seeds.values()), message_id="<digest-1@kuroshio>",
                              now=SEEN_AT + timedelta(seconds=2))
        refused = start_digest_attempt(session, "morning", pid=None, now=SEEN_AT + timedelta(hours=1))
        finish_digest_attempt(session, refused, status="failed", articles_count=2, error="550 mailbox <unavailable>",
                              now=SEEN_AT + timedelta(hours=1, seconds=1))
    return Archive(seeds, hostile, japanese, copy, fillers)


@pytest.fixture
def read_only(database_url: str, archive: Archive) -> Iterator[sessionmaker[Session]]:
    engine = read_only_engine(database_url)
    yield read_only_sessions(engine)
    engine.dispose()


@pytest.fixture
def client(read_only: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(read_only, topics=TOPIC_NAMES, sources=SOURCE_NAMES, digests=("morning",))
    with TestClient(app) as test_client:
        yield test_client


def _pages(archive: Archive) -> list[str]:
    return ["/", "/?page=2", "/topics/taiwan-japan", "/topics/semiconductors?page=2", "/search?q=Taiwan",
            "/search?q=%E7%86%8A%E6%9C%AC", f"/articles/{archive.hostile}", f"/articles/{archive.japanese}",
            f"/articles/{archive.seeds[SEED_CASES[0]]}", "/sources", "/digests", "/web.css", "/icon.svg",
            "/feeds/taiwan-japan.xml", "/feeds/all.xml"]


def _card_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<article class="card">\s*<h3[^>]*><a href="/articles/(\d+)"', html)]


def test_every_page_answers_with_html_and_the_security_policy(client: TestClient, archive: Archive) -> None:
    for path in _pages(archive):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        assert response.headers["x-content-type-options"] == "nosniff"
        if not path.endswith((".css", ".svg", ".xml")):
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert "<script" not in response.text.lower()  # no page carries a script, hostile or ours


def test_front_page_counts_each_configured_topic_and_lists_the_newest_relevant_articles(
        client: TestClient, archive: Archive) -> None:
    html = client.get("/").text
    assert re.search(r'href="/topics/taiwan-japan">.*?</a></td>\s*<td class="number">(\d+)</td>', html)
    semiconductors = re.search(r'href="/topics/semiconductors"><bdi>semiconductors</bdi></a></td>\s*'
                               r'<td class="number">(\d+)</td>', html)
    assert semiconductors and int(semiconductors.group(1)) >= FILLER
    assert len(_card_ids(html)) == PAGE_SIZE


def test_a_topic_pages_newest_first_with_links_between_pages(client: TestClient, archive: Archive) -> None:
    first = client.get("/topics/semiconductors")
    second = client.get("/topics/semiconductors?page=2")
    ids = _card_ids(first.text) + _card_ids(second.text)
    assert len(_card_ids(first.text)) == PAGE_SIZE
    assert set(archive.fillers) <= set(ids) and len(ids) == len(set(ids))
    filler_order = [article_id for article_id in ids if article_id in archive.fillers]
    assert filler_order == sorted(archive.fillers, reverse=True)  # stored in date order: newest has the highest id
    assert 'rel="next" href="/topics/semiconductors?page=2"' in first.text
    assert 'rel="prev" href="/topics/semiconductors"' in second.text
    assert client.get("/topics/semiconductors?page=3").status_code == 404
    for bad in ("0", "abc", "-1", "²", "99999999999"):
        response = client.get(f"/topics/semiconductors?page={bad}")
        assert response.status_code == 400 and "page: expected a whole number" in response.text


def test_an_unknown_topic_is_404(client: TestClient) -> None:
    for path in ("/topics/%3Cscript%3E", "/feeds/%3Cscript%3E.xml"):
        response = client.get(path)
        assert response.status_code == 404
        assert "no topic called &#39;&lt;script&gt;&#39;" in response.text


def test_each_topic_and_every_relevant_article_have_an_atom_feed(client: TestClient, archive: Archive) -> None:
    topic = client.get("/feeds/semiconductors.xml")
    assert topic.headers["content-type"] == "application/atom+xml"
    parsed = feedparser.parse(topic.content)
    assert parsed.bozo == 0 and parsed.feed.title == "Kuroshio: semiconductors"
    assert FILLER <= len(parsed.entries) <= FEED_LIMIT
    assert parsed.feed.links[0].href == "http://testserver/feeds/semiconductors.xml"  # rel=self: where it was asked
    everything = feedparser.parse(client.get("/feeds/all.xml").content)
    assert everything.feed.title == "Kuroshio: every relevant article"
    assert 'href="/feeds/semiconductors.xml"' in client.get("/topics/semiconductors").text
    assert 'href="/feeds/all.xml"' in client.get("/").text


def test_search_reads_the_topic_query_syntax_and_marks_the_terms(client: TestClient, archive: Archive) -> None:
    html = client.get("/search", params={"q": "ＴＳＭＣ AND 熊本"}).text
    assert _card_ids(html) == [archive.japanese]
    assert "<mark>熊本</mark>" in html and "<mark>ＴＳＭＣ</mark>" in html
    narrowed = client.get("/search", params={"q": "semiconductor* NOT report"}).text
    assert not set(_card_ids(narrowed)) & set(archive.fillers)
    assert "Nothing found." in client.get("/search", params={"q": "zyzzyva"}).text


def test_search_results_page_and_stop_at_the_last(client: TestClient, archive: Archive) -> None:
    first = client.get("/search", params={"q": "report"})
    second = client.get("/search", params={"q": "report", "page": 2})
    assert len(_card_ids(first.text)) == PAGE_SIZE
    assert set(_card_ids(first.text)) | set(_card_ids(second.text)) == set(archive.fillers)
    assert 'rel="next" href="/search?q=report&amp;page=2"' in first.text
    assert 'rel="next"' not in second.text


def test_a_bad_search_query_is_400_with_its_one_line_error(client: TestClient) -> None:
    response = client.get("/search", params={"q": "(Taiwan <b>"})
    assert response.status_code == 400
    assert ('<p class="error" role="alert">bad search query: unbalanced parenthesis at position 0: '
            "&#39;(&#39; is never closed</p>") in response.text
    assert 'value="(Taiwan &lt;b&gt;"' in response.text  # the query stays in the box to be fixed
    assert client.get("/search", params={"q": "NOT Taiwan"}).status_code == 400


def test_the_article_page_shows_text_metadata_terms_urls_and_other_copies(client: TestClient, archive: Archive) -> None:
    case = SEED_CASES[0]
    fields = seed_article(case)
    html = client.get(f"/articles/{archive.seeds[case]}").text
    assert f'<a class="url" href="{fields.url}"' in html
    assert "<mark>" in html  # its matched terms, marked in its text
    assert f'href="/articles/{archive.copy_of_first_seed}"' in html and "syndicator" in html
    japanese = client.get(f"/articles/{archive.japanese}").text
    assert '<h1 lang="ja"><bdi><mark>台湾</mark>と<mark>日本</mark>、半導体で協力 <mark>熊本</mark>工場が稼働</bdi></h1>' in japanese
    assert '<div class="text" lang="ja">' in japanese
    assert "2025-12-02 18:00 +09:00" in japanese  # the publisher's own offset
    assert client.get("/articles/999999").status_code == 404
    assert client.get(f"/articles/{2**40}").status_code == 404  # beyond any id: no SQL error


def test_a_hostile_article_is_inert(client: TestClient, archive: Archive) -> None:
    for path in (f"/articles/{archive.hostile}", "/search?q=accord", "/?page=1"):
        html = client.get(path).text
        assert "<script" not in html.lower()
        assert "<img" not in html and "<b>" not in html and 'onclick="' not in html
        assert 'href="javascript:' not in html
        assert "\u202e" not in html and "\u202c" not in html  # no bidi override turns the page around
    page = client.get(f"/articles/{archive.hostile}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<span class="url">javascript:alert(3)</span>' in page  # shown, never linked
    assert "lang=\"en&#34;" not in page and 'lang="en"><script>' not in page  # a bad language tag is no attribute
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in page


def test_only_get_and_head_are_routed(client: TestClient, archive: Archive) -> None:
    for path in _pages(archive):
        assert client.head(path).status_code == 200
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            response = client.request(method, path, content=b"q=1")
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
            assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_sources_page_shows_recent_crawls_and_what_needs_a_look(client: TestClient) -> None:
    html = client.get("/sources").text
    kyodo = html.split("<bdi>kyodo</bdi>")[1].split('<section class="source">')[0]
    assert "needs a look" in kyodo
    assert "its last crawl failed: every listing page failed &lt;script&gt;" in kyodo
    assert "no new article in the last 3 runs" in kyodo
    assert kyodo.count('<tr class="status-failed">') == 3
    assert "http://english.kyodonews.test/&lt;b&gt;</span>: HTTP 503" in kyodo
    focus = html.split("<bdi>focus-taiwan</bdi>")[1].split('<section class="source">')[0]
    assert '<span class="badge ok">ok</span>' in focus
    taiwan_news = html.split("<bdi>taiwan-news</bdi>")[1].split('<section class="source">')[0]
    assert "never crawled" in taiwan_news


def test_digests_page_shows_attempts_and_what_each_delivered(client: TestClient, archive: Archive) -> None:
    html = client.get("/digests").text
    assert "550 mailbox &lt;unavailable&gt;" in html
    assert "3 articles delivered" in html
    for article_id in archive.seeds.values():
        assert f'href="/articles/{article_id}"' in html


def test_links_carry_the_prefix_a_reverse_proxy_serves_it_under(read_only: sessionmaker[Session],
                                                                  archive: Archive) -> None:
    app = create_app(read_only, topics=TOPIC_NAMES, sources=SOURCE_NAMES, digests=())
    with TestClient(app, root_path="/kuroshio") as proxied:
        html = proxied.get("/kuroshio/").text
    assert 'href="/kuroshio/web.css"' in html and 'action="/kuroshio/search"' in html
    assert 'href="/kuroshio/topics/taiwan-japan"' in html and 'href="/kuroshio/articles/' in html
    assert 'href="/articles/' not in html


def _store_contents(sessions: sessionmaker[Session]) -> str:
    """Every row of every table, as one fingerprint."""
    digest = hashlib.sha256()
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(json.dumps([[repr(value) for value in row] for row in rows]).encode())
    return digest.hexdigest()


def test_no_page_writes_to_the_store(client: TestClient, sessions: sessionmaker[Session], archive: Archive) -> None:
    before = _store_contents(sessions)
    for path in _pages(archive) + ["/search?q=(", "/articles/0", "/topics/nothing"]:
        client.get(path)
        client.post(path)
    assert _store_contents(sessions) == before


def test_the_store_refuses_the_web_views_writes(read_only: sessionmaker[Session], archive: Archive) -> None:
    with read_only() as session, pytest.raises(DBAPIError, match="(?i)read.?only"):
        session.execute(text("DELETE FROM digest_deliveries"))
        session.commit()


def test_schema_problem_says_when_the_store_is_not_this_kuroshios(database_url: str, archive: Archive) -> None:
    engine = read_only_engine(database_url)
    try:
        assert schema_problem(engine) is None
    finally:
        engine.dispose()
