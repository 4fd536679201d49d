"""Full-text search: words in any script, ranking, hostile query syntax, the LIKE fallback."""


from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from storage_support import UTC, MakeArticle, count_rows, names_of, store_one

from kuroshio.storage import search
from kuroshio.storage.models import Article
from kuroshio.storage.search import search_articles

# --- search --------------------------------------------------------------------------------------


@pytest.fixture
def searchable(session: Session, make_article: MakeArticle) -> dict[str, int]:
    stored = {
        "typhoon_title": store_one(
            session,
            make_article(
                title="Typhoon Krathon weakens",
                text="The storm weakened after landfall in Kaohsiung.",
                published_at=datetime(2025, 10, 1, tzinfo=UTC),
            ),
        ),
        "typhoon_text": store_one(
            session,
            make_article(
                title="Ferries cancelled",
                text="Ferries to Kinmen were cancelled because of the typhoon; the harbour stays closed.",
                published_at=datetime(2025, 10, 2, tzinfo=UTC),
            ),
        ),
        "chinese": store_one(
            session,
            make_article(
                title="颱風山陀兒",
                text="台灣南部豪雨，高雄停班停課。",
                published_at=datetime(2025, 10, 3, tzinfo=UTC),
            ),
        ),
    }
    return {name: result.article_id for name, result in stored.items()}


def test_search_finds_articles_by_word_case_insensitively(session: Session, searchable: dict[str, int]) -> None:
    assert set(names_of(search_articles(session, "TYPHOON"), searchable)) == {"typhoon_title", "typhoon_text"}
    assert names_of(search_articles(session, "ferries kinmen"), searchable) == ["typhoon_text"]
    assert names_of(search_articles(session, "ferries kaohsiung"), searchable) == []


def test_search_finds_words_in_scripts_without_spaces(session: Session, searchable: dict[str, int]) -> None:
    assert names_of(search_articles(session, "高雄"), searchable) == ["chinese"]
    assert names_of(search_articles(session, "颱風"), searchable) == ["chinese"]
    assert names_of(search_articles(session, "「高雄」"), searchable) == ["chinese"]


def test_search_ranks_title_hits_first_with_fts5(
    session: Session, searchable: dict[str, int], database_url: str
) -> None:
    if not search._has_fulltext_index(session):
        pytest.skip("ranking needs the SQLite FTS5 index; other backends list newest first")
    # The text-only hit is newer, so date order would put it first.
    assert names_of(search_articles(session, "typhoon"), searchable) == ["typhoon_title", "typhoon_text"]


@pytest.mark.parametrize(
    "hostile",
    ['"', '""', "'", 'typhoon"', '"typhoon', "title:typhoon", "typhoon OR", "AND", "NOT typhoon", "NEAR(typhoon",
     "typ*", "^typhoon", "-", "(", ")", "{title}: x", "%", "_", "\\", "100%_\\", "'; DROP TABLE articles; --"],
)
def test_search_treats_query_syntax_as_plain_words(session: Session, searchable: dict[str, int], hostile: str) -> None:
    results = search_articles(session, hostile)
    assert all(isinstance(article, Article) for article in results)
    assert count_rows(session, Article) == 3


def test_search_quoted_word_still_matches(session: Session, searchable: dict[str, int]) -> None:
    assert set(names_of(search_articles(session, '"typhoon"'), searchable)) == {"typhoon_title", "typhoon_text"}


def test_search_falls_back_to_like_without_fulltext_index(
    session: Session, searchable: dict[str, int], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        for statement in (
            "DROP TRIGGER IF EXISTS articles_fts_after_insert",
            "DROP TRIGGER IF EXISTS articles_fts_after_update",
            "DROP TRIGGER IF EXISTS articles_fts_after_delete",
            "DROP TABLE IF EXISTS articles_fts",
        ):
            session.execute(text(statement))
        session.commit()
    assert not search._has_fulltext_index(session)
    assert set(names_of(search_articles(session, "Typhoon"), searchable)) == {"typhoon_title", "typhoon_text"}
    assert set(names_of(search_articles(session, '"Typhoon"'), searchable)) == {"typhoon_title", "typhoon_text"}
    assert names_of(search_articles(session, "(ferries) kinmen;"), searchable) == ["typhoon_text"]
    assert names_of(search_articles(session, "100%"), searchable) == []


def test_search_with_no_words_finds_nothing(session: Session, searchable: dict[str, int]) -> None:
    assert search_articles(session, "   ") == []


