"""Atom feeds (`kuroshio.digest.feed`): valid Atom 1.0 as feedparser and RFC 4287's schema read it, the
fields a reader shows, hostile text kept inert, and entry ids that stay the same for the same story.

Articles go through the real store (SQLite, and PostgreSQL when configured) except where a value the
store cannot hold (a lone surrogate, NUL on PostgreSQL) is to reach the builder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from atom_validation import parse_valid_feed, schema_errors
from digest_support import NOW, SEEN_AT, article, seed_article
from fixture_web import expected
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.digest.excerpts import excerpt
from kuroshio.digest.feed import build_feed, entry_id, feed_id, read_feed
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema

ATOM = "{http://www.w3.org/2005/Atom}"
LAI = "taiwan-news-lai"


def feed_of(sessions: sessionmaker[Session], topic: str | None = None, **options) -> bytes:
    with sessions() as session:
        return read_feed(session, topic=topic, limit=options.pop("limit", None), now=NOW, **options)


def test_a_topic_feed_is_valid_atom_with_every_field_a_reader_shows(sessions, seeded) -> None:
    parsed = parse_valid_feed(feed_of(sessions, "taiwan-japan"))
    assert parsed.feed.id == "tag:kuroshio,2026:feed/topic/taiwan-japan" == feed_id("taiwan-japan")
    assert parsed.feed.title == "Kuroshio: taiwan-japan"
    assert parsed.feed.updated == SEEN_AT.isoformat()
    fields = expected(LAI)
    [entry] = [entry for entry in parsed.entries if entry.link == fields["canonical_url"]]
    assert entry.title == fields["title"]
    assert entry.published == fields["published"]  # the publisher's own offset, +08:00
    assert entry.updated == SEEN_AT.isoformat()
    assert [author.name for author in entry.authors] == fields["authors"]
    assert entry.source.title == fields["source"]
    assert entry.summary == excerpt(fields["body"]) and entry.summary_detail.type == "text/plain"
    [category] = entry.tags
    assert category.term == "taiwan-japan" and category.label.startswith("taiwan-japan: ")
    assert "Japan" in category.label and "Taiwan" in category.label
    assert entry.id.startswith("tag:kuroshio,2026:article/")
    assert "content" not in entry


def test_the_feed_of_everything_relevant_lists_every_matching_article_newest_first(sessions, seeded) -> None:
    parsed = parse_valid_feed(feed_of(sessions))
    assert parsed.feed.id == "tag:kuroshio,2026:feed/relevant"
    published = [datetime.fromisoformat(entry.published) for entry in parsed.entries]
    assert len(published) == 3 and published == sorted(published, reverse=True)
    assert len({entry.id for entry in parsed.entries}) == 3


def test_a_topic_feed_lists_only_that_topics_articles_and_the_limit_keeps_the_newest(sessions, store) -> None:
    store(seed_article(LAI))
    chips = store(seed_article(LAI, url="https://chips.example/1", canonical_url="https://chips.example/1",
                               title="Chipmakers expand", text="Semiconductor plants grow. Chip output rises.",
                               published_at=datetime(2025, 12, 2, tzinfo=timezone.utc)))
    assert chips
    topic_feed = parse_valid_feed(feed_of(sessions, "semiconductors"))
    assert [entry.title for entry in topic_feed.entries] == ["Chipmakers expand"]
    assert [tag.term for tag in topic_feed.entries[0].tags] == ["semiconductors"]
    newest = parse_valid_feed(feed_of(sessions, limit=1))
    assert [entry.title for entry in newest.entries] == ["Chipmakers expand"]


def test_full_text_adds_the_stored_text_as_plain_content(sessions, seeded) -> None:
    parsed = parse_valid_feed(feed_of(sessions, "taiwan-japan", full_text=True))
    [entry] = [entry for entry in parsed.entries if entry.link == expected(LAI)["canonical_url"]]
    [content] = entry.content
    assert content.type == "text/plain"
    assert " ".join(content.value.split()) == " ".join(expected(LAI)["body"].split())


def test_building_the_feed_again_gives_the_same_bytes(sessions, seeded) -> None:
    first = feed_of(sessions)
    assert feed_of(sessions) == first


def test_an_empty_feed_is_valid_and_dated_now(sessions) -> None:
    document = feed_of(sessions, "taiwan-japan")
    parsed = parse_valid_feed(document)
    assert parsed.entries == [] and parsed.feed.updated == NOW.isoformat()


def test_times_carry_their_offset_and_an_undated_article_is_published_when_first_seen(sessions, store) -> None:
    tokyo = timezone(timedelta(hours=9))
    store(seed_article(LAI, published_at=datetime(2025, 11, 30, 22, 5, tzinfo=tokyo)))
    store(seed_article("kyodo-ko", published_at=None), now=datetime(2025, 12, 3, 1, 2, 3, 456789, tzinfo=timezone.utc))
    entries = {entry.title: entry for entry in parse_valid_feed(feed_of(sessions)).entries}
    assert entries[expected(LAI)["title"]].published == "2025-11-30T22:05:00+09:00"
    undated = entries[expected("kyodo-ko")["title"]]
    assert undated.published == undated.updated == "2025-12-03T01:02:03+00:00"


def test_cjk_titles_and_authors_round_trip_with_the_articles_language(sessions, store) -> None:
    title = "頼総統、日本との協力強化を表明 台湾有事「平和維持が重要」"
    store(seed_article(LAI, title=title, authors=("共同通信", "王小明"), language="ja",
                       text="頼清徳総統は日本との協力を強化すると述べた。台湾と日本の関係は良好だ。"))
    document = feed_of(sessions)
    [entry] = parse_valid_feed(document).entries
    assert entry.title == title and [author.name for author in entry.authors] == ["共同通信", "王小明"]
    assert entry.title_detail.language == "ja"
    assert entry.summary == excerpt("頼清徳総統は日本との協力を強化すると述べた。台湾と日本の関係は良好だ。")
    assert title.encode("utf-8") in document  # as characters, not numeric references


def test_an_alias_and_a_rebuilt_store_keep_the_entry_id(sessions, store, tmp_path) -> None:
    """The same story reached under another URL is one entry with one id; a store built again by crawling,
    which numbers its rows anew and may meet the story under an alias first, gives it the same id."""
    fields = expected(LAI)
    first = store(seed_article(LAI))
    alias = "http://www.taiwannews.test/news/6113842"
    assert store(seed_article(LAI, url=alias)) == first
    [entry] = parse_valid_feed(feed_of(sessions)).entries
    rebuilt_engine = create_engine_for(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    upgrade_schema(rebuilt_engine)
    rebuilt = session_factory(rebuilt_engine)
    try:
        from digest_support import TOPICS

        from kuroshio.crawler.topics import match_topics
        from kuroshio.storage.articles import store_article

        with rebuilt() as session:
            for case in ("kyodo-ko", LAI):  # another article first: row ids differ from the first store's
                extracted = seed_article(case, url=alias if case == LAI else expected(case)["url"])
                matches = match_topics(TOPICS, title=extracted.title, text=extracted.text)
                store_article(session, extracted, matches=matches, crawl_run_id=None, now=SEEN_AT)
        rebuilt_entries = {e.link: e for e in parse_valid_feed(feed_of(rebuilt)).entries}
    finally:
        rebuilt_engine.dispose()
    assert rebuilt_entries[fields["canonical_url"]].id == entry.id


def test_entry_ids_do_not_depend_on_scheme_or_www() -> None:
    plain = article(url="http://news.example/a/1")
    secure = article(url="https://www.news.example/a/1")
    other = article(url="https://news.example/a/2")
    assert entry_id(plain) == entry_id(secure) != entry_id(other)


HOSTILE_TITLE = "<script>alert(1)</script> ]]> &amp; \x07\x1b[2J\u202eevil\u202c \ufeffend"


def test_hostile_text_stays_inert_and_the_document_valid(sessions, store) -> None:
    store(seed_article(LAI, title=HOSTILE_TITLE, authors=("Smith & Wesson <sw@example.org>", "\x1b]0;owned\x07"),
                       text="Taiwan and Japan \x0b\x0c\x1f met ]]> <img src=x onerror=alert(1)>. Japan said so.",
                       canonical_url="javascript:alert(1)", language="en_US;drop"))
    document = feed_of(sessions, full_text=True)
    [entry] = parse_valid_feed(document).entries
    assert entry.title == "<script>alert(1)</script> ]]> &amp; [2J evil end"
    assert [author.name for author in entry.authors] == ["Smith & Wesson <sw@example.org>", "]0;owned"]
    assert entry.link == expected(LAI)["url"]  # the fetched URL: the canonical one is no http(s) link
    assert "<img src=x onerror=alert(1)>" in entry.summary
    root = etree.fromstring(document)
    assert not [element for element in root.iter() if etree.QName(element).localname in ("script", "img")]
    assert b"javascript:" not in document and b"\x1b" not in document
    assert root.find(f"{ATOM}entry").get("{http://www.w3.org/XML/1998/namespace}lang") is None


def test_characters_xml_forbids_are_dropped_even_where_the_store_could_not_hold_them() -> None:
    hostile = article()
    hostile.title, hostile.text = "Taiwan \ud800 Japan \ufffe\uffff accord", "Taiwan \udfff and Japan \x00\x01 agree."
    hostile.authors = ["Lone \udc80 Surrogate"]
    document = build_feed([hostile], topic=None, now=NOW, full_text=True)
    [entry] = parse_valid_feed(document).entries
    assert entry.title == "Taiwan Japan accord" and entry.authors[0].name == "Lone Surrogate"
    assert entry.content[0].value == "Taiwan and Japan agree."


def test_an_entry_without_a_usable_link_carries_its_content() -> None:
    unlinked = article(url="ftp://news.example/1")
    document = build_feed([unlinked], topic=None, now=NOW)
    [entry] = parse_valid_feed(document).entries
    assert b"<link" not in document and entry.content[0].value == unlinked.text


@pytest.mark.parametrize(("broken", "complaint"), [
    (b"<updated>2025-12-02T00:00:00+00:00</updated>", "updated"),
    (b"<name>example-news</name>", "atom:author"),
    (b'<link rel="alternate" type="text/html" href="https://example-news.example/articles/1"/>', "no alternate link"),
])
def test_the_validation_rejects_what_atom_forbids(broken: bytes, complaint: str) -> None:
    """The checks the tests rely on can fail: each document lacks one thing RFC 4287 requires."""
    lone = article(url="https://example-news.example/articles/1")
    document = build_feed([lone], topic=None, now=NOW)
    assert broken in document and schema_errors(document) == []
    if complaint == "atom:author":
        document = document.replace(b"<author>\n      " + broken + b"\n    </author>", b"")
    else:
        document = document.replace(broken, b"", 1)
    assert any(complaint in error for error in schema_errors(document)), schema_errors(document)
