"""Search finds what the topic filter finds: the same query syntax, folding and CJK word matching, on
every backend; ranking, limits, bad and hostile queries, and a store without the FTS5 index."""


from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from storage_support import UTC, MakeArticle, count_rows, names_of, store_one

from kuroshio.storage.models import Article
from kuroshio.storage.query import QuerySyntaxError, evaluate, parse_query
from kuroshio.storage.search import MAX_TERMS, search_articles
from kuroshio.storage.search_index import SEARCH_TABLE
from kuroshio.storage.text import FoldedText

DAY = datetime(2025, 10, 1, tzinfo=UTC)


def store_all(session: Session, make_article: MakeArticle, articles: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Store `name: (title, text)` articles, each a day newer than the one before; their ids by name."""
    return {
        name: store_one(session, make_article(title=title, text=body, published_at=DAY + timedelta(days=day))).article_id
        for day, (name, (title, body)) in enumerate(articles.items())
    }


def found(session: Session, query: str, ids: dict[str, int], **options: int) -> set[str]:
    return set(names_of(search_articles(session, query, **options), ids))


@pytest.fixture
def searchable(session: Session, make_article: MakeArticle) -> dict[str, int]:
    return store_all(session, make_article, {
        "typhoon_title": ("Typhoon Krathon weakens", "The storm weakened after landfall in Kaohsiung."),
        "typhoon_text": ("Ferries cancelled",
                         "Ferries to Kinmen were cancelled because of the typhoon; the harbour stays closed."),
        "chinese": ("颱風山陀兒", "台灣南部豪雨，高雄停班停課。"),
    })


@pytest.fixture
def mixed_scripts(session: Session, make_article: MakeArticle) -> dict[str, int]:
    return store_all(session, make_article, {
        "tsmc_japan": ("日本のTSMC工場が稼働", "熊本県菊陽町で半導体の量産が始まった。"),
        "tsmc_english": ("TSMC results", "Taiwan Semiconductor Manufacturing Co. reported record profit."),
        "semiconductor_hant": ("半導體產業", "台積電在熊本縣設廠，日台合作。"),
        "tourists": ("観光", "台湾人観光客が増えている。"),
        "asahidai": ("朝日台のニュース", "朝日台で祭りが開かれた。"),
        "strait": ("Drills", "Ships crossed the Taiwan Strait; Japanese officials watched."),
    })


def test_a_latin_term_is_found_inside_japanese_text(session: Session, mixed_scripts: dict[str, int]) -> None:
    assert found(session, "TSMC", mixed_scripts) == {"tsmc_japan", "tsmc_english"}


def test_a_full_width_term_finds_its_ascii_form(session: Session, mixed_scripts: dict[str, int]) -> None:
    assert found(session, "ＴＳＭＣ", mixed_scripts) == {"tsmc_japan", "tsmc_english"}
    assert found(session, "ｔｓｍｃ", mixed_scripts) == {"tsmc_japan", "tsmc_english"}


def test_simplified_traditional_and_japanese_forms_find_each_other(
    session: Session, mixed_scripts: dict[str, int]
) -> None:
    assert found(session, "半导体", mixed_scripts) == {"tsmc_japan", "semiconductor_hant"}
    assert found(session, "半導體", mixed_scripts) == {"tsmc_japan", "semiconductor_hant"}
    assert found(session, "熊本県", mixed_scripts) == {"tsmc_japan", "semiconductor_hant"}


def test_a_cjk_term_is_found_as_a_word_as_the_filter_finds_it(
    session: Session, mixed_scripts: dict[str, int]
) -> None:
    assert found(session, "台湾", mixed_scripts) == {"tourists"}
    # 朝日台 is a place name (朝日 + 台): the characters 日台 occur in it, the word does not.
    assert found(session, "日台", mixed_scripts) == {"semiconductor_hant"}


def test_topic_query_syntax_works_in_search(session: Session, mixed_scripts: dict[str, int]) -> None:
    assert found(session, "TSMC AND 熊本", mixed_scripts) == {"tsmc_japan"}
    assert found(session, "TSMC NOT 熊本", mixed_scripts) == {"tsmc_english"}
    assert found(session, "TSMC OR 朝日台", mixed_scripts) == {"tsmc_japan", "tsmc_english", "asahidai"}
    assert found(session, '"Taiwan Strait"', mixed_scripts) == {"strait"}
    assert found(session, '"Strait Taiwan"', mixed_scripts) == set()
    assert found(session, "Japan", mixed_scripts) == set()
    assert found(session, "Japan*", mixed_scripts) == {"strait"}
    assert found(session, "(Ships OR profit) NOT (Japan* OR record)", mixed_scripts) == set()
    assert found(session, "(Ships OR profit) NOT Japan*", mixed_scripts) == {"tsmc_english"}


def test_search_finds_articles_by_word_case_insensitively(session: Session, searchable: dict[str, int]) -> None:
    assert found(session, "TYPHOON", searchable) == {"typhoon_title", "typhoon_text"}
    assert found(session, "ferries kinmen", searchable) == {"typhoon_text"}
    assert found(session, "ferries kaohsiung", searchable) == set()


def test_search_reads_several_spellings_of_a_word_as_one(session: Session, searchable: dict[str, int]) -> None:
    assert found(session, "高雄", searchable) == {"chinese"}
    assert found(session, "台湾", searchable) == {"chinese"}
    assert found(session, "臺灣 高雄", searchable) == {"chinese"}


def test_title_hits_rank_first_then_newest(session: Session, searchable: dict[str, int]) -> None:
    # The text-only hit is newer, so date order alone would put it first.
    assert names_of(search_articles(session, "typhoon"), searchable) == ["typhoon_title", "typhoon_text"]
    assert names_of(search_articles(session, "typhoon OR ferries"), searchable) == ["typhoon_text", "typhoon_title"]


def test_limit_counts_articles_where_the_query_holds(session: Session, make_article: MakeArticle) -> None:
    # Twenty articles the index finds for 日台 hold only inside 朝日台; the limit is still met by the five
    # where 日台 is a word, however they rank among the rest.
    articles = {f"asahidai{n}": ("朝日台", "朝日台のニュースです。" * (n + 1)) for n in range(20)}
    articles |= {f"exchange{n}": ("交流", f"日台交流が進む（{n}）。") for n in range(5)}
    ids = store_all(session, make_article, articles)
    assert found(session, "日台", ids, limit=3) <= {f"exchange{n}" for n in range(5)}
    assert len(search_articles(session, "日台", limit=3)) == 3
    assert found(session, "日台", ids, limit=50) == {f"exchange{n}" for n in range(5)}


def test_repeated_terms_count_once(session: Session, searchable: dict[str, int]) -> None:
    assert found(session, " ".join(["typhoon"] * 1000), searchable) == {"typhoon_title", "typhoon_text"}
    assert found(session, "typhoon TYPHOON ｔｙｐｈｏｏｎ", searchable) == {"typhoon_title", "typhoon_text"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"typhoon', "unterminated phrase at position 0"),
        ("typhoon OR", "expected a term after OR at position 10"),
        ("(typhoon", "unbalanced parenthesis at position 0"),
        ("NOT typhoon", "nothing to search for"),
        ("typhoon OR NOT storm", "nothing to search for"),
        ("%", "nothing to search for"),
        ("   ", "empty query"),
        ("typhoon \udcff", "not valid UTF-8 at position 8"),
        ("NOT " * 40 + "typhoon", "nested more than 32 levels deep"),
        ("typhoon AND (storm OR (" * 20 + "x" + "))" * 20, "nested more than 32 levels deep"),
        ("NOT " * 5000 + "typhoon", "longer than 10,000 characters"),
        (" ".join(f"w{n}" for n in range(MAX_TERMS + 1)), f"{MAX_TERMS + 1} different terms, more than {MAX_TERMS}"),
    ],
)
def test_a_bad_query_is_one_error_naming_what(
    session: Session, searchable: dict[str, int], query: str, message: str
) -> None:
    with pytest.raises(QuerySyntaxError, match=message.replace("(", r"\(")) as raised:
        search_articles(session, query)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "hostile",
    ["'", "title:typhoon", "NEAR(typhoon)", "typ*", "^typhoon", "{title}: x", "_", "\\", "100%_\\",
     "'; DROP TABLE articles; --", "typhoon:*", "typhoon & storm | !x", "typhoon <-> storm", "typhoon'"],
)
def test_index_query_syntax_in_a_query_is_plain_text(
    session: Session, searchable: dict[str, int], hostile: str
) -> None:
    # FTS5 and tsquery syntax means nothing in a search query: a list of articles or a query error.
    try:
        results = search_articles(session, hostile)
    except QuerySyntaxError:
        results = []
    assert all(isinstance(article, Article) for article in results)
    assert count_rows(session, Article) == 3


def test_search_without_the_fts5_index_reads_every_article(
    session: Session, searchable: dict[str, int], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("only SQLite can lack its index (a build without FTS5)")
    session.execute(text(f"DROP TABLE {SEARCH_TABLE}"))
    session.commit()
    assert found(session, "Typhoon", searchable) == {"typhoon_title", "typhoon_text"}
    assert found(session, "颱風 NOT 東京", searchable) == {"chinese"}


def test_an_article_deleted_by_hand_leaves_the_index(session: Session, searchable: dict[str, int]) -> None:
    session.execute(text("DELETE FROM topic_matches"))
    session.execute(text("DELETE FROM article_urls"))
    session.execute(text("DELETE FROM articles WHERE id = :id"), {"id": searchable["typhoon_text"]})
    session.commit()
    assert found(session, "typhoon", searchable) == {"typhoon_title"}
    key = "rowid" if session.get_bind().dialect.name == "sqlite" else "article_id"
    assert session.scalar(text(f"SELECT count(*) FROM {SEARCH_TABLE} WHERE {key} = :id"),
                          {"id": searchable["typhoon_text"]}) == 0


# --- search returns exactly what the filter's matcher finds ---------------------------------------

_WORDS = ["台湾", "台湾人", "日台", "朝日台", "今日", "台北", "半導體", "半导体", "熊本縣", "熊本県", "TSMC", "ＴＳＭＣ",
          "Taiwan", "Taiwanese", "Japan's", "U.S.", "the", "の", "、", "。", " ", " ", "工場", "観光客", "在"]
_QUERIES = ["台湾", "日台", "台北", "半导体", "熊本県", "TSMC", "Taiwan", "Taiwan*", "japan", "U.S.", "台湾 OR 日台",
            "台湾 NOT 日台", '"Taiwan Taiwanese"', "(TSMC OR 半導體) NOT Taiwan*", "台*", '"台湾 人"', "今日 台北"]


def filter_holds(query: str, title: str, body: str) -> bool:
    """Whether `query` holds in the article, read exactly as the topic filter reads it."""
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(body)
    return evaluate(parse_query(query),
                    lambda leaf: folded_text.count(leaf.pattern) + folded_title.count(leaf.pattern))[0]


def test_search_finds_exactly_the_articles_where_the_filter_holds(
    session: Session, make_article: MakeArticle
) -> None:
    chance = random.Random(11)
    articles = {
        f"a{n}": ("".join(chance.choices(_WORDS, k=3)), "".join(chance.choices(_WORDS, k=chance.randint(5, 40))))
        for n in range(120)
    }
    ids = store_all(session, make_article, articles)
    for query in _QUERIES:
        expected = {name for name, (title, body) in articles.items() if filter_holds(query, title, body)}
        assert found(session, query, ids, limit=1000) == expected, query
    assert any(filter_holds("日台", *article) for article in articles.values())
