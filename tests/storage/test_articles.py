"""Storing and de-duplicating articles, their dates, listing and finding them; concurrent writers."""


from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from storage_support import (
    ELECTION,
    TAIPEI,
    TYPHOON,
    UTC,
    MakeArticle,
    RunTogether,
    count_rows,
    names_of,
    store_one,
    stored_urls,
)

from kuroshio.storage import articles as stored_articles
from kuroshio.storage import models
from kuroshio.storage.articles import (
    ArticleToStore,
    StoreResult,
    article_record,
    get_article,
    known_links,
    list_articles,
    store_articles,
)
from kuroshio.storage.models import Article, ArticleTopic, ArticleURL, Source
from kuroshio.storage.records import TopicMatch
from kuroshio.storage.runs import (
    start_run,
)
from kuroshio.storage.search import search_articles

# --- storing and de-duplicating ------------------------------------------------------------------


def test_store_new_article_with_its_urls_and_matches(session: Session, make_article: MakeArticle) -> None:
    article = make_article(
        url="https://news.example/a?id=1",
        canonical_url="https://news.example/a",
        authors=("Lin Mei", "Chen Wei"),
        language="en",
    )
    result = store_one(session, article, TYPHOON, ELECTION, seen_urls=["https://news.example/feed-link/1"])

    assert result.created
    stored = get_article(session, str(result.article_id))
    assert stored is not None
    assert (stored.url, stored.canonical_url) == (article.url, article.canonical_url)
    assert stored.source.name == "example-news"
    assert stored.authors == ["Lin Mei", "Chen Wei"]
    assert stored.content_sha256 == article.content_sha256
    assert {url.url for url in stored.urls} == {
        "https://news.example/a?id=1",
        "https://news.example/a",
        "https://news.example/feed-link/1",
    }
    assert [(match.topic, match.score, match.terms) for match in stored.topic_matches] == [
        ("typhoon", 0.9, ["typhoon", "颱風"]),
        ("election", 0.4, ["election"]),
    ]


def test_repeated_topic_in_matches_keeps_the_best_score(session: Session, make_article: MakeArticle) -> None:
    weaker = TopicMatch(topic="typhoon", score=0.2, terms=("storm",))
    result = store_one(session, make_article(), weaker, TYPHOON)
    stored = get_article(session, str(result.article_id))
    assert stored is not None
    assert [(match.topic, match.score) for match in stored.topic_matches] == [("typhoon", 0.9)]


@pytest.mark.parametrize(
    ("second_url", "second_canonical", "second_seen", "same_text"),
    [
        pytest.param("https://news.example/a", "https://news.example/other", [], False, id="by-url"),
        pytest.param(
            "https://news.example/a?ref=rss", "https://news.example/a-canonical", [], False, id="by-canonical"
        ),
        pytest.param("https://news.example/redirected", "https://news.example/new", [], False, id="by-alias"),
        pytest.param(
            "https://mirror.example/x", "https://mirror.example/x", ["https://mirror.example/y"], True, id="by-content"
        ),
    ],
)
def test_duplicate_is_stored_once_and_keeps_its_urls_as_aliases(
    session: Session,
    make_article: MakeArticle,
    second_url: str,
    second_canonical: str,
    second_seen: list[str],
    same_text: bool,
) -> None:
    first = make_article(
        url="https://news.example/a",
        canonical_url="https://news.example/a-canonical",
        text="Typhoon Krathon makes landfall in Kaohsiung.",
    )
    first_result = store_one(session, first, TYPHOON, seen_urls=["https://news.example/redirected"])
    # Whitespace layout does not change the fingerprint.
    second_text = "Typhoon  Krathon makes landfall\nin Kaohsiung." if same_text else "Another story altogether."
    second = make_article(url=second_url, canonical_url=second_canonical, text=second_text)

    second_result = store_one(session, second, ELECTION, seen_urls=second_seen)

    assert second_result == StoreResult(article_id=first_result.article_id, created=False)
    assert count_rows(session, Article) == 1
    expected_urls = {
        first.url, first.canonical_url, "https://news.example/redirected", second_url, second_canonical, *second_seen
    }
    assert stored_urls(session) == expected_urls
    for url in expected_urls:
        found = get_article(session, url)
        assert found is not None and found.id == first_result.article_id
    stored = get_article(session, str(first_result.article_id))
    assert stored is not None
    assert [match.topic for match in stored.topic_matches] == ["typhoon"]  # the duplicate adds no topics


def test_empty_bodies_are_not_duplicates_of_each_other(session: Session, make_article: MakeArticle) -> None:
    assert store_one(session, make_article(text="")).created
    assert store_one(session, make_article(text="  \n")).created
    assert count_rows(session, Article) == 2


def test_known_links_is_what_a_second_crawl_skips(session: Session, make_article: MakeArticle) -> None:
    asked = ["https://news.example/1", "https://news.example/c1", "https://news.example/2", "https://news.example/3"]
    assert known_links(session, asked, now=datetime.now(timezone.utc)) == set()
    store_one(session, make_article(url="https://news.example/1", canonical_url="https://news.example/c1"))
    store_one(session, make_article(url="https://news.example/2"))
    assert known_links(session, asked, now=datetime.now(timezone.utc)) == set(asked[:3])


def test_known_links_finds_a_stored_url_under_its_other_scheme_and_www_form(
    session: Session, make_article: MakeArticle
) -> None:
    store_one(session, make_article(url="http://news.example/story"))
    asked = ["https://www.news.example/story", "https://news.example/other"]
    assert known_links(session, asked, now=datetime.now(timezone.utc)) == {"https://www.news.example/story"}


def test_known_links_asks_in_bounded_batches_however_many_links(
    session: Session, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_one(session, make_article(url="https://news.example/7"))
    monkeypatch.setattr(stored_articles, "KNOWN_LINKS_PER_QUERY", 10)
    statements: list[str] = []
    def listen(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().startswith("SELECT"):
            statements.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        known = known_links(session, [f"https://news.example/{n}" for n in range(20)], now=datetime.now(timezone.utc))
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert known == {"https://news.example/7"}
    # 20 links in 4 forms each (http/https, www or not): 8 chunks of 10, one query of each table per chunk
    assert len(statements) == 16 and all(statement.count("?") + statement.count("%(") <= 12 for statement in statements)


def test_store_after_reads_in_the_same_session(session: Session, make_article: MakeArticle) -> None:
    list_articles(session)
    assert session.in_transaction()
    assert store_one(session, make_article()).created
    assert not session.in_transaction()


def test_store_refuses_a_session_with_staged_changes(session: Session, make_article: MakeArticle) -> None:
    session.add(Source(name="staged"))
    with pytest.raises(RuntimeError, match="uncommitted changes"):
        store_one(session, make_article())


def test_store_records_the_crawl_run(session: Session, make_article: MakeArticle) -> None:
    run_id = start_run(session, "example-news", now=datetime.now(timezone.utc))
    result = store_one(session, make_article(), crawl_run_id=run_id)
    stored = get_article(session, str(result.article_id))
    assert stored is not None and stored.crawl_run_id == run_id


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "published",
    ["2025-03-01T10:30:00+08:00", "2025-03-01T10:30:00-03:30", "2025-03-01T10:30:00+00:00"],
)
def test_published_offset_round_trips(session: Session, make_article: MakeArticle, published: str) -> None:
    published_at = datetime.fromisoformat(published)
    result = store_one(session, make_article(published_at=published_at))
    session.expunge_all()  # read back from the database, not from the identity map

    stored = get_article(session, str(result.article_id))
    assert stored is not None
    assert stored.published_at == published_at
    assert stored.published_at.utcoffset() == timedelta(0)  # stored and returned in UTC
    assert article_record(stored)["published"] == published


def test_article_without_date_has_no_published(session: Session, make_article: MakeArticle) -> None:
    result = store_one(session, make_article(), now=datetime(2025, 1, 2, 3, 4, 5, tzinfo=TAIPEI))
    stored = get_article(session, str(result.article_id))
    assert stored is not None
    record = article_record(stored)
    assert record["published"] is None
    assert record["first_seen_at"] == "2025-01-01T19:04:05+00:00"


def test_naive_datetimes_are_refused(session: Session, make_article: MakeArticle) -> None:
    naive = datetime(2025, 3, 1, 10, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        store_one(session, make_article(published_at=naive))
    with pytest.raises(ValueError, match="timezone-aware"):
        list_articles(session, since=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        start_run(session, "example-news", now=naive)
    assert count_rows(session, Article) == 0


def test_overlong_urls_are_refused(session: Session, make_article: MakeArticle) -> None:
    overlong = "https://news.example/" + "x" * models.MAX_URL_LENGTH
    with pytest.raises(ValueError, match="longer than"):
        store_one(session, make_article(), seen_urls=[overlong])
    assert count_rows(session, Article) == 0


def test_article_record_is_json_ready(session: Session, make_article: MakeArticle) -> None:
    article = make_article(
        title="颱風山陀兒登陸",
        published_at=datetime(2025, 10, 3, 12, 40, tzinfo=TAIPEI),
        language="zh-TW",
        authors=("林美",),
    )
    result = store_one(session, article, TYPHOON, now=datetime(2025, 10, 3, 5, 0, tzinfo=UTC))
    stored = get_article(session, str(result.article_id))
    assert stored is not None
    record = json.loads(json.dumps(article_record(stored), ensure_ascii=False))
    assert record == {
        "id": result.article_id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "source": "example-news",
        "title": "颱風山陀兒登陸",
        "authors": ["林美"],
        "published": "2025-10-03T12:40:00+08:00",
        "language": "zh-TW",
        "text": article.text,
        "partial": False,
        "first_seen_at": "2025-10-03T05:00:00+00:00",
        "topics": [{"name": "typhoon", "score": 0.9, "terms": ["typhoon", "颱風"]}],
    }


# --- listing and finding -------------------------------------------------------------------------


@pytest.fixture
def listed(session: Session, make_article: MakeArticle) -> dict[str, int]:
    """Four articles: dated (in different offsets), undated, matched and unmatched, two sources."""
    seen = datetime(2025, 1, 5, tzinfo=UTC)
    stored = {
        # 09:00+08:00 is 01:00Z: older than 02:00Z although its local hour is later.
        "typhoon_taipei": store_one(
            session, make_article(published_at=datetime(2025, 1, 3, 9, 0, tzinfo=TAIPEI)), TYPHOON, now=seen
        ),
        "typhoon_utc": store_one(
            session, make_article(published_at=datetime(2025, 1, 3, 2, 0, tzinfo=UTC)), TYPHOON, now=seen
        ),
        "election_other_source": store_one(
            session,
            make_article(source="other-news", published_at=datetime(2025, 1, 2, tzinfo=UTC)),
            ELECTION,
            now=seen,
        ),
        "unmatched": store_one(session, make_article(published_at=datetime(2025, 1, 4, tzinfo=UTC)), now=seen),
        "typhoon_undated": store_one(session, make_article(), TYPHOON, now=datetime(2025, 1, 6, tzinfo=UTC)),
    }
    return {name: result.article_id for name, result in stored.items()}


def test_list_shows_matched_articles_newest_first(session: Session, listed: dict[str, int]) -> None:
    assert names_of(list_articles(session), listed) == [
        "typhoon_undated",  # first seen 2025-01-06, no publication date
        "typhoon_utc",
        "typhoon_taipei",
        "election_other_source",
    ]


def test_list_can_include_unmatched(session: Session, listed: dict[str, int]) -> None:
    assert names_of(list_articles(session, include_unmatched=True), listed) == [
        "typhoon_undated",
        "unmatched",
        "typhoon_utc",
        "typhoon_taipei",
        "election_other_source",
    ]


def test_list_filters_by_topic_source_since_and_limit(session: Session, listed: dict[str, int]) -> None:
    assert names_of(list_articles(session, topic="election"), listed) == ["election_other_source"]
    assert names_of(list_articles(session, source="other-news"), listed) == ["election_other_source"]
    assert names_of(list_articles(session, topic="no-such-topic"), listed) == []
    since = datetime(2025, 1, 3, 9, 0, tzinfo=TAIPEI)  # inclusive
    assert names_of(list_articles(session, since=since), listed) == ["typhoon_undated", "typhoon_utc", "typhoon_taipei"]
    assert names_of(list_articles(session, topic="typhoon", limit=2), listed) == ["typhoon_undated", "typhoon_utc"]


def test_get_article_by_id_or_any_url(session: Session, make_article: MakeArticle) -> None:
    article = make_article(url="https://news.example/a", canonical_url="https://news.example/c")
    result = store_one(session, article, seen_urls=["https://news.example/old"])
    article_id = str(result.article_id)
    for ref in (article_id, f" {article_id} ", article.url, article.canonical_url, "https://news.example/old"):
        found = get_article(session, ref)
        assert found is not None and found.id == result.article_id, ref
    assert get_article(session, "999999") is None
    assert get_article(session, "https://news.example/unknown") is None


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.faults
def test_a_batch_failing_midway_leaves_no_trace(
    session: Session, sessions: sessionmaker[Session], make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = stored_articles._insert_article
    articles_written_before_the_crash: list[int] = []

    def crash_on_the_second_article(session: Session, item: ArticleToStore, **options: Any) -> Article:
        if item.article.title == "Election":
            articles_written_before_the_crash.append(count_rows(session, Article))
            raise RuntimeError("simulated crash in the middle of a batch")
        return real_insert(session, item, **options)

    monkeypatch.setattr(stored_articles, "_insert_article", crash_on_the_second_article)
    batch = [ArticleToStore(make_article(title="Typhoon", url="https://news.example/t"), matches=(TYPHOON,)),
             ArticleToStore(make_article(title="Election", url="https://news.example/e"), matches=(ELECTION,))]
    with pytest.raises(RuntimeError, match="simulated crash"):
        store_articles(session, batch, crawl_run_id=None, now=datetime.now(timezone.utc))

    assert articles_written_before_the_crash == [1]  # the first article and its rows were in the database
    with sessions() as fresh:
        assert [count_rows(fresh, model) for model in (Article, ArticleURL, ArticleTopic, Source)] == [0, 0, 0, 0]
        assert stored_urls(fresh) == set()
        assert search_articles(fresh, "typhoon") == []


def test_a_batch_stores_each_article_once_and_folds_its_own_duplicates(
    session: Session, make_article: MakeArticle
) -> None:
    typhoon = make_article(title="Typhoon", url="https://news.example/t", text="Typhoon Krathon nears Taiwan.")
    copy = make_article(title="Typhoon (copy)", url="https://mirror.example/t", text="Typhoon Krathon nears Taiwan.")
    election = make_article(title="Election", url="https://news.example/e", text="Taipei votes.")
    batch = [ArticleToStore(typhoon, matches=(TYPHOON,)), ArticleToStore(copy),
             ArticleToStore(election, matches=(ELECTION, ELECTION))]

    results = store_articles(session, batch, crawl_run_id=None, now=datetime.now(timezone.utc))

    assert [result.created for result in results] == [True, False, True]
    assert results[1].article_id == results[0].article_id
    assert count_rows(session, Article) == 2
    assert stored_urls(session) == {typhoon.url, copy.url, election.url}
    stored = get_article(session, str(results[2].article_id))
    assert stored is not None and [match.topic for match in stored.topic_matches] == ["election"]


def test_a_batch_folds_an_article_it_holds_under_another_form_of_its_url(
    session: Session, make_article: MakeArticle
) -> None:
    first = make_article(url="https://news.example/a", text="First reading.")
    again = make_article(url="http://www.news.example/a", text="Second reading, edited.")

    results = store_articles(session, [ArticleToStore(first), ArticleToStore(again)], crawl_run_id=None,
                             now=datetime.now(timezone.utc))

    assert [result.created for result in results] == [True, False]
    assert results[1].article_id == results[0].article_id
    assert stored_urls(session) == {first.url, again.url}


def test_a_batch_looks_up_its_duplicates_in_two_queries_however_many_articles(
    session: Session, make_article: MakeArticle
) -> None:
    store_one(session, make_article(url="https://news.example/0", text="Stored before."))
    batch = [ArticleToStore(make_article(url=f"https://news.example/{n}", text=f"Story {n}.")) for n in range(20)]
    lookups: list[str] = []

    def listen(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        # Which article a URL or a body belongs to (not the alias check, which asks which URLs exist).
        if statement.lstrip().startswith("SELECT") and ("article_urls.article_id" in statement
                                                        or "articles.content_sha256 IN" in statement
                                                        or "articles.content_sha256 =" in statement):
            lookups.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        results = store_articles(session, batch, crawl_run_id=None, now=datetime.now(timezone.utc))
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)

    assert [result.created for result in results] == [False] + [True] * 19
    # One query of the URLs, one of the bodies: asked article by article, it was two per article.
    assert len(lookups) == 2


def test_an_article_that_cannot_be_stored_is_refused_before_any_write(make_article: MakeArticle) -> None:
    with pytest.raises(ValueError, match="published_at"):
        ArticleToStore(make_article(published_at=datetime(2025, 5, 1, 9, 30)))
    with pytest.raises(ValueError, match="URL longer than"):
        ArticleToStore(make_article(), seen_urls=("https://news.example/" + "x" * 3000,))


@pytest.mark.faults
def test_url_stored_by_a_concurrent_writer_is_recorded_as_duplicate(
    session: Session, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    article = make_article(url="https://news.example/race")
    original = store_one(session, article, TYPHOON)
    real_find_duplicate = stored_articles._find_duplicate
    lookups: list[int | None] = []

    def batch_lookup_that_loses_the_race(cls: type[Any], session: Session, batch: Any) -> Any:
        # The batch's lookup runs "before the other writer committed", so it finds nothing.
        lookups.append(None)
        return cls({}, {})

    def lookup_again(*args: Any) -> int | None:
        found = real_find_duplicate(*args)
        lookups.append(found)
        return found

    monkeypatch.setattr(stored_articles._KnownArticles, "look_up", classmethod(batch_lookup_that_loses_the_race))
    monkeypatch.setattr(stored_articles, "_find_duplicate", lookup_again)
    again = make_article(url="https://news.example/race", canonical_url="https://news.example/race-c", text="new")

    assert store_one(session, again) == StoreResult(article_id=original.article_id, created=False)
    assert lookups == [None, original.article_id]  # the insert failed on the unique URL and was retried
    assert count_rows(session, Article) == 1
    assert "https://news.example/race-c" in stored_urls(session)


@pytest.mark.faults
def test_concurrent_writers_store_one_article(
    sessions: sessionmaker[Session], make_article: MakeArticle, run_together: RunTogether
) -> None:
    writers = 8
    shared = make_article(url="https://news.example/shared", text="The same story, fetched by every writer.")
    own = [make_article() for _ in range(writers)]
    results: list[StoreResult] = []

    def write(index: int) -> None:
        with sessions() as session:
            results.append(store_one(session, shared, TYPHOON))
            results.append(store_one(session, own[index], TYPHOON))

    run_together(writers, write)
    with sessions() as session:
        stored_shared = get_article(session, "https://news.example/shared")
        assert stored_shared is not None
        shared_results = [result for result in results if result.article_id == stored_shared.id]
        assert len(shared_results) == writers
        assert sum(result.created for result in shared_results) == 1
        assert count_rows(session, Article) == writers + 1


@pytest.mark.faults
def test_concurrent_writers_of_one_body_under_different_urls_store_one_article(
    sessions: sessionmaker[Session], make_article: MakeArticle, run_together: RunTogether
) -> None:
    # No unique constraint catches a body stored twice: on PostgreSQL only the body's advisory lock
    # makes the second writer wait and find the first one's article (without it, most writers create one).
    writers = 8
    copies = [
        make_article(url=f"https://mirror{index}.example/story", text="One syndicated story, on every mirror.")
        for index in range(writers)
    ]
    results: list[StoreResult] = []

    def write(index: int) -> None:
        with sessions() as session:
            results.append(store_one(session, copies[index], TYPHOON))

    run_together(writers, write)
    assert sum(result.created for result in results) == 1
    assert len({result.article_id for result in results}) == 1
    with sessions() as session:
        assert count_rows(session, Article) == 1
        assert stored_urls(session) == {copy.url for copy in copies}


@pytest.mark.faults
def test_writers_adding_the_same_aliases_in_opposite_orders_do_not_deadlock(
    sessions: sessionmaker[Session], make_article: MakeArticle, run_together: RunTogether
) -> None:
    # Two writers each duplicate a different stored article and bring the same two new URLs, in opposite
    # orders. Without per-URL advisory locks taken in key order, PostgreSQL aborted one of them as a
    # deadlock on most rounds: each held one alias row the other was waiting to insert.
    rounds = 10
    for number in range(rounds):
        first_new, second_new = f"https://news.example/{number}/x", f"https://news.example/{number}/y"
        with sessions() as session:
            stored = [
                store_one(session, make_article(url=f"https://news.example/{number}/stored-{side}")).article_id
                for side in (0, 1)
            ]
        duplicates = [
            (make_article(url=f"https://news.example/{number}/stored-0", canonical_url=first_new), [second_new]),
            (make_article(url=f"https://news.example/{number}/stored-1", canonical_url=second_new), [first_new]),
        ]
        results: list[StoreResult] = []

        def write(side: int, duplicates: list = duplicates, results: list[StoreResult] = results) -> None:
            article, seen_urls = duplicates[side]
            with sessions() as session:
                results.append(store_one(session, article, seen_urls=seen_urls))

        run_together(2, write)
        assert sorted(results, key=lambda result: result.article_id) == [
            StoreResult(article_id=article_id, created=False) for article_id in sorted(stored)
        ]
        with sessions() as session:
            assert {first_new, second_new} <= stored_urls(session)
