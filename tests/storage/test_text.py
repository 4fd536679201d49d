"""Text folded for matching: variants of one character meet, and CJK terms are found as words only."""

from __future__ import annotations

import pytest

from kuroshio.storage.segment import word_boundaries
from kuroshio.storage.text import _VARIANT_FOLD, FoldedText, Needles, fold_case, normalize, words_pattern


def occurrences(term: str, text: str, *, prefix: bool = False) -> int:
    return FoldedText.of(text).count(words_pattern([normalize(term)], prefix=prefix))


@pytest.mark.parametrize(
    ("written", "other"),
    [
        ("半導體", "半导体"),  # traditional and simplified
        ("熊本縣", "熊本県"),  # Taiwan's press and Japan's: 縣 and the shinjitai 県 both fold to 县
        ("臺灣", "台湾"),
        ("日台關係", "日台関係"),
        ("驛", "駅"),
        ("ＴＳＭＣ", "tsmc"),  # full width and case
    ],
)
def test_variants_of_one_word_fold_to_one_form(written: str, other: str) -> None:
    assert normalize(written) == normalize(other)


def test_variant_fold_changes_no_ascii_character() -> None:
    # normalize translates only the runs of a text outside ASCII: an ASCII key would go unfolded.
    assert all(code > 0x7F for code in _VARIANT_FOLD)
    assert normalize("Taiwan’s 臺灣 and Japan’s 熊本縣 (TSMC)") == "taiwan's 台湾 and japan's 熊本县 (tsmc)"


def test_needles_are_found_as_a_substring_test_finds_them_overlaps_included() -> None:
    terms = ["japan", "japanese", "pan", "an", "日本", "本", "日本人", "台湾", "𠮷野", "lai ching-te", "zzz"]
    needles = Needles(words_pattern(normalize(term).split(), prefix=False) for term in terms)
    for text in ("the japanese delegation", "日本人と台湾の𠮷野家", "", "lai ching-te met japan's envoys"):
        folded = normalize(text)
        expected = {pattern.split()[0] for pattern in terms if pattern.split()[0] in folded}
        assert needles.found_in(folded) == expected


def test_no_needles_find_nothing() -> None:
    assert Needles([]).found_in("japan") == set()


def test_variant_fold_keeps_offsets() -> None:
    text = "臺灣與日本的半導體關係，熊本県のＴＳＭＣ工場"
    assert len(normalize(text)) == len(fold_case(text))


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("日台", "兵庫県の朝日台で夏祭り。朝日台の住民が集まった。"),  # a place name in Hyogo
        ("日台", "朝日台"),  # a title without kana is read as Chinese: 朝日 / 台
        ("台日", "今日台北天氣晴朗"),  # "today, Taipei"
        ("台日", "平台日前宣布新規定"),  # "the platform recently announced"
        ("台日", "陽台日照充足"),  # "the balcony gets plenty of sun"
        ("台日", "气象台日前发布预报"),  # "the observatory recently issued"
    ],
)
def test_cjk_term_spelled_across_two_words_is_not_found(term: str, text: str) -> None:
    assert occurrences(term, text) == 0


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("台日", "台日關係持續升溫"),
        ("日台", "日台交流協會舉辦活動"),
        ("日台", "日台関係が深まる"),
        ("台湾", "台湾人観光客が増えた"),  # a word inside a compound (Japanese)
        ("台灣", "台灣人在日本工作"),  # and in Chinese, across the variant fold
        ("熊本", "台積電熊本廠開幕"),
        ("熊本縣", "熊本県知事が高雄を訪問した"),  # written in Taiwan's script, found in Japan's
        ("半导体", "日本半導體產業"),
        ("TSMC", "日本のTSMC工場"),  # a Latin term between kana and kanji
    ],
)
def test_cjk_term_is_found_as_a_word_or_inside_a_compound(term: str, text: str) -> None:
    assert occurrences(term, text) == 1


def test_cjk_prefix_term_needs_a_boundary_only_at_its_start() -> None:
    assert occurrences("台積", "台積電熊本廠", prefix=True) == 1
    assert occurrences("積電", "台積電熊本廠", prefix=True) == 0


def test_every_cjk_run_edge_is_a_word_boundary() -> None:
    text = fold_case("Taiwan 台湾, Japan 日本!")
    boundaries = word_boundaries(text, normalize(text))
    assert {7, 9, 17, 19} <= boundaries


def test_text_without_cjk_has_no_boundaries_to_compute() -> None:
    assert word_boundaries("taiwan and japan", "taiwan and japan") == frozenset()


def test_a_long_unpunctuated_cjk_run_is_segmented_in_pieces() -> None:
    text = "日台交流" * 3000 + "の記録"
    folded = FoldedText.of(text)
    assert folded.count(words_pattern(["日台"], prefix=False)) == 3000
