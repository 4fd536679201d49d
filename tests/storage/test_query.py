"""The topic query language: how a query is parsed, rendered, and refused with its position."""

from __future__ import annotations

import pytest

from kuroshio.storage.query import (
    And,
    Leaf,
    Not,
    Or,
    Phrase,
    Place,
    Query,
    QuerySyntaxError,
    Term,
    evaluate,
    needles_of,
    occurrence_starts,
    occurrences,
    occurring_leaves,
    parse_query,
    place,
    positive_leaves,
)
from kuroshio.storage.text import FoldedText, sentence_starts


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    assert parse_query("a OR b AND c") == Or((Term("a"), And((Term("b"), Term("c")))))
    assert parse_query("NOT a AND b") == And((Not(Term("a")), Term("b")))
    assert parse_query("a b") == parse_query("a AND b")


def test_parsed_query_renders_with_the_parentheses_it_needs():
    assert str(parse_query("a OR b c")) == "a OR b AND c"
    assert str(parse_query('(a OR "b c") NOT (d OR e*)')) == '(a OR "b c") AND NOT (d OR e*)'


def test_lowercase_operators_are_ordinary_terms():
    assert parse_query("Taiwan and Japan") == And((Term("Taiwan"), Term("and"), Term("Japan")))


def test_full_width_parentheses_and_quotes_are_syntax():
    assert parse_query("（台灣 OR ＂日本 東京＂）") == Or((Term("台灣"), Phrase("日本 東京")))


def test_wildcard_and_phrase_nodes():
    assert parse_query('Japan* "Taiwan Strait"') == And((Term("Japan", prefix=True), Phrase("Taiwan Strait")))


# Syntax errors


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(Taiwan AND Japan", 0, "unbalanced parenthesis at position 0"),
        ("Taiwan AND Japan)", 16, "unbalanced parenthesis at position 16"),
        ("(Taiwan OR (Japan)", 0, "unbalanced parenthesis at position 0"),
        ("Taiwan AND", 10, "expected a term after AND at position 10, found end of query"),
        ("Taiwan OR OR Japan", 10, "expected a term after OR at position 10, found OR"),
        ("Taiwan AND NOT", 14, "expected a term after NOT at position 14"),
        ("AND Japan", 0, "expected a term at position 0, found AND"),
        ("Taiwan AND ()", 12, "expected a term after '(' at position 12, found ')'"),
        ('Taiwan "Japan', 7, "unterminated phrase at position 7"),
        ('Taiwan ""', 7, "empty phrase at position 7"),
        ("Taiwan Ja*pan", 9, "'*' is only allowed at the end of a term at position 9"),
        ("Taiwan *", 7, "'*' needs a term before it at position 7"),
        ("Taiwan -China", 7, "a leading '-' does not negate at position 7: write NOT China"),
    ],
)
def test_syntax_error_names_the_position_and_what_was_expected(query: str, position: int, message: str):
    with pytest.raises(QuerySyntaxError) as error:
        parse_query(query)

    assert message in str(error.value)
    assert error.value.position == position


# @Country


def test_at_country_expands_to_the_gazetteer_names_of_the_country() -> None:
    query = parse_query("@Japan AND TSMC")

    assert isinstance(query, And)
    place = query.children[0]
    assert isinstance(place, Place) and str(place) == "@Japan"
    names = {term.text for term in place.children}
    assert {"Japan", "Japanese", "Tokyo", "Kumamoto", "熊本"} <= names
    assert all(term.via == "Japan" for term in place.children)


def test_a_place_term_is_written_with_the_country_it_stood_for() -> None:
    place = parse_query("@jp")  # ISO codes and any case name the country too
    assert isinstance(place, Place)

    by_text = {term.text: term.written for term in place.children}
    assert by_text["熊本"] == "熊本 → Japan"
    assert by_text["Japan"] == "Japan"  # the country's own name needs no arrow


def test_an_expansion_holds_names_once_per_folded_form() -> None:
    place = parse_query("@Taiwan")
    assert isinstance(place, Place)

    folded = [term.pattern for term in place.children]
    assert len(folded) == len(set(folded))  # 台灣, 臺灣 and 台湾 are one term


def test_unknown_country_is_a_syntax_error_naming_close_matches() -> None:
    with pytest.raises(QuerySyntaxError) as error:
        parse_query("Taiwan AND @Japn")

    assert error.value.position == 11
    assert "unknown country 'Japn'" in str(error.value) and "Japan" in str(error.value)


# Scoring


def _every_leaf(query: Query) -> list[Leaf]:
    match query:
        case Term() | Phrase():
            return [query]
        case Not(child):
            return _every_leaf(child)
        case And(children) | Or(children) | Place(children=children):
            return [leaf for child in children for leaf in _every_leaf(child)]
    raise TypeError(query)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Kumamoto governor visits Kaohsiung", "Kumamoto and Kaohsiung signed a pact. Japan's TSMC plant; aid said."),
        ("熊本県知事が高雄を訪問", "熊本県の木村知事は高雄市を訪れ、台湾との交流を深めた。日台関係。"),
        ("賴清德接見日本訪問團", "總統賴清德今日接見日本眾議院訪問團，台日關係密切。今日台北天氣晴朗。"),
        ("", ""),
    ],
)
def test_each_leaf_scores_its_occurrences_as_counting_it_alone_would(title: str, text: str) -> None:
    # The shared leaf score finds needles for the whole query in one pass; every term of the default
    # topic, those under NOT included, must score what counting that term on its own scores.
    query = parse_query("(@Taiwan OR 台日 OR TSMC) AND (@Japan OR 日台) AND NOT (typhoon* OR aid OR 交流)")
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(text)
    leaf_score = occurrences(query, folded_title, folded_text, title_weight=3)

    for leaf in _every_leaf(query):
        expected = folded_text.count(leaf.pattern) + 3 * folded_title.count(leaf.pattern)
        assert leaf_score(leaf) == expected, leaf.written


def test_a_place_scores_as_the_or_of_its_terms() -> None:
    place = parse_query("@Japan")
    assert isinstance(place, Place)
    title, text = FoldedText.of("Kumamoto and Tokyo"), FoldedText.of("Japan, Kumamoto, Osaka.")

    as_place = evaluate(place, occurrences(place, title, text))
    as_or = evaluate(Or(place.children), occurrences(place, title, text))
    assert as_place == as_or == (True, 5.0)


def test_a_query_finds_its_needles_once() -> None:
    query = parse_query("@Taiwan AND @Japan")
    assert needles_of(query) is needles_of(query)


@pytest.mark.parametrize("text", ["Japan, Kumamoto, Osaka and Taipei.", "熊本県の知事が高雄を訪れた。", "Paris", ""])
def test_a_place_looks_only_at_the_names_that_occur_and_scores_as_every_name_would(text: str) -> None:
    # A country has thousands of names; scoring each of them, present or not, cost a millisecond an article.
    query = parse_query("@Japan AND (@Taiwan OR 高雄)")
    title, folded = FoldedText.of(""), FoldedText.of(text)
    leaf_score = occurrences(query, title, folded)
    scored: list[Leaf] = []

    def counting(leaf: Leaf) -> float:
        scored.append(leaf)
        return leaf_score(leaf)

    every_name = evaluate(query, counting)  # a plain leaf score: every name of each place is scored
    assert evaluate(query, leaf_score) == every_name
    japan = query.children[0]
    assert isinstance(japan, Place)
    present = leaf_score.present_children(japan)
    assert len(present) < len(japan.children) / 100
    assert [leaf for leaf in japan.children if counting(leaf) > 0] == [leaf for leaf in present if leaf_score(leaf) > 0]
    assert [leaf.written for leaf in occurring_leaves(query, leaf_score) if leaf_score(leaf) > 0] == \
        [leaf.written for leaf in positive_leaves(query) if leaf_score(leaf) > 0]


def test_occurrence_starts_are_where_the_positive_terms_of_a_query_begin() -> None:
    query = parse_query("(Taiwan OR TSMC) AND NOT typhoon")
    text = FoldedText.of("TSMC said Taiwan's typhoon season spared Taiwan.")

    starts = occurrence_starts(query, occurrences(query, FoldedText.of(""), text))

    assert starts == [0, 10, 41]


@pytest.mark.parametrize(("text", "starts"), [
    ("Japan acted. Taiwan thanked it! Why?", [0, 13, 32]),
    ('He said "no." Then left.\n\nA new paragraph', [0, 14, 26]),
    ("日本が支援した。台湾は感謝した！「なぜか？」と問われた。", [0, 8, 16, 22]),
    ("台灣感謝日本。\n日本回應", [0, 8]),
    ("No end mark", [0]),
    ("Japan waited… Taiwan acted.", [0, 14]),
    ("Rates rose 3.5% on focustaiwan.tw today. Next one", [0, 41]),
])
def test_sentences_end_at_latin_and_cjk_full_stops_and_at_line_breaks(text: str, starts: list[int]) -> None:
    assert sentence_starts(text) == starts


def test_a_place_can_be_built_with_only_some_kinds_of_names() -> None:
    every = {term.text for term in place("Japan").children}
    own = {term.text for term in place("Japan", kinds=("country", "capital")).children}

    assert {"Japan", "日本", "Tokyo"} <= own < every
    assert "Kumamoto" in every and "Kumamoto" not in own
    assert {term.via for term in place("JP", kinds=("country",)).children} == {"Japan"}
