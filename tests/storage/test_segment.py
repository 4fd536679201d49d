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


@pytest.mark.parametrize(("term", "text"), [
    ("日台", "台州市水务局通知，3日台州城区停水，4日台州恢复供水。"),
    ("日本", "新工場は1日本格稼働し、12日本社で記念式典を開いた。"),
])
def test_a_day_of_the_month_in_digits_begins_no_word_with_its_own_character(term: str, text: str) -> None:
    # 3日|台州 "on the 3rd, Taizhou" and 1日|本格稼働 "on the 1st, full operation": the segmenter is never
    # asked where a CJK run begins, so the date rule says that 日 after a day of the month is the date's.
    assert count(term, text) == 0


@pytest.mark.parametrize("text", ["G7日本開催に向けて", "日本台湾交流協会は2日日本側の窓口として発表した"])
def test_a_number_that_is_no_day_of_the_month_leaves_the_word_after_it(text: str) -> None:
    assert count("日本", text) >= 1
