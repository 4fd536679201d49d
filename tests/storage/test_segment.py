"""Chinese word boundaries: search mode's inner words, and the whole words that keep them honest."""

from __future__ import annotations

import pytest

from kuroshio.storage.text import FoldedText, normalize, words_pattern


def count(term: str, text: str) -> int:
    return FoldedText.of(text).count(words_pattern([normalize(term)], prefix=False))


@pytest.mark.parametrize("text", ["紫金山天文台日环食观测队出发", "天文台日環食科普直播"])
def test_a_term_spelt_by_the_inner_words_of_two_neighbouring_chinese_words_is_not_found(text: str) -> None:
    # Search mode yields 文台 (inside 天文台) and 环食 (inside 日环食): 台日 would begin and end on their edges.
    assert count("台日", text) == 0


@pytest.mark.parametrize(("term", "text"), [
    ("台日", "推動台日交流合作"),
    ("台日", "台日關係持續深化"),
    ("台灣", "台灣人觀光客"),
    ("宮城縣", "宮城縣政府"),
    ("日本", "訪台日本議員團"),
])
def test_a_chinese_term_that_is_a_word_or_begins_on_a_whole_words_edge_is_found(term: str, text: str) -> None:
    # 宮城縣: jieba's default mode reads 宫城|县政府, so the term ends inside a whole word but begins on one's edge.
    assert count(term, text) == 1


def test_japanese_text_is_not_affected() -> None:
    assert count("日台", "日台交流の拡大で合意した") == 1
