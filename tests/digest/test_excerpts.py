"""Excerpts: the first two or three sentences of an article's clean text, cut to fit."""

from __future__ import annotations

import pytest
from fixture_web import SEED_CASES, expected

from kuroshio.digest.excerpts import excerpt, split_sentences


@pytest.mark.parametrize("case", SEED_CASES)
def test_excerpt_is_the_first_two_or_three_sentences_of_the_clean_text(case: str) -> None:
    body = expected(case)["body"]
    sentences = split_sentences(body.split("\n")[0])
    result = excerpt(body)
    assert result.startswith(sentences[0])
    assert 2 <= len(split_sentences(result)) <= 3 or len(result) > 200
    assert len(result) <= 480
    assert not any(snippet in result for snippet in expected(case)["without"])


def test_kyodo_excerpt_is_its_lead_sentence_and_the_next() -> None:
    result = excerpt(expected("kyodo-ko")["body"])
    assert result.startswith("Former Taipei Mayor Ko Wen-je, a key candidate in Taiwan's presidential election")
    assert result.endswith("contributing to global technological and economic development.")


def test_sentences_do_not_end_at_abbreviations_initials_or_a_lower_case_continuation() -> None:
    paragraph = ("Mr. Ko met U.S. officials on Jan. 5 in Washington. The talks, said Dr. J. Smith, went well. "
                 "e.g. nothing else. 台灣與日本簽署協議。雙方同意合作！")
    assert split_sentences(paragraph) == [
        "Mr. Ko met U.S. officials on Jan. 5 in Washington.",
        "The talks, said Dr. J. Smith, went well. e.g. nothing else.",
        "台灣與日本簽署協議。",
        "雙方同意合作！",
    ]


def test_excerpt_of_a_huge_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    result = excerpt("word " * 5000)
    assert len(result) <= 480
    assert result.endswith("\u2026") and not result.endswith(" \u2026")
