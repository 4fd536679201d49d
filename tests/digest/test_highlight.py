"""Highlighting matched topic terms in the original text, and the fast path that maps them back.

`_fold_case_with_origin` folds ASCII runs at once instead of one cluster at a time (benchmarks/RESULTS.md §4).
It is compared here with the plain algorithm, written out in full, on the inputs where the shortcut
could go wrong: fullwidth, CJK, expanding and combining characters next to ASCII.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from kuroshio.digest.highlight import Segment, _fold_case_with_origin, highlight, term_patterns
from kuroshio.storage.text import fold_case


def marked(segments: tuple[Segment, ...]) -> list[str]:
    return [segment.text for segment in segments if segment.marked]


def fold_case_cluster_by_cluster(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The plain algorithm: every cluster (a character and its combining marks) folded on its own."""
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        folded = fold_case(text[start:end])
        pieces.append(folded)
        origin.extend([(start, end)] * len(folded))
        start = end
    return "".join(pieces), origin


def test_highlight_marks_matched_terms_in_the_original_text_across_width_case_and_variants() -> None:
    patterns = term_patterns(["Taiwan", "Japan*", "台灣", '"Taiwan Strait"'])
    text = "ＴＡＩＷＡＮ and the Japanese side met in 臺灣 near the taiwan  strait; Taiwanese stayed."
    segments = highlight(text, patterns)
    assert "".join(segment.text for segment in segments) == text
    assert marked(segments) == ["ＴＡＩＷＡＮ", "Japanese", "臺灣", "taiwan  strait"]


def test_highlight_without_terms_is_the_text_unmarked() -> None:
    assert highlight("Plain text", []) == (Segment("Plain text"),)
    assert highlight("", term_patterns(["Taiwan"])) == ()


# --- normalisation with origins ------------------------------------------------------------------

TRICKY_TEXTS = [
    "",
    "Plain ASCII, with Capitals and digits 2025.",
    "\x00\x1f\x7f control characters stay where they are",
    "ＴＡＩＷＡＮ and ＪＡＰＡＮ＇ｓ fullwidth letters",
    "臺灣與日本簽署協議。東京、関係、關係",
    "Taiwan（臺灣）and Japan（日本）meet",
    "Cafe\u0301 re\u0301sume\u0301",  # ASCII letters carrying combining accents: one cluster each
    "e\u0301",
    "a\u0300\u0301\u0302 stacked marks, then plain",
    "\u0301 a combining mark with nothing before it",
    "run ending in a mark\u0301",
    "Straße, ﬁnance, ㍿, ½, İstanbul, Ⅻ",  # normalisation changes the length
    "Taiwan’s and Japan‘s apostrophes ʼ",
    "한국 and jamo \u1100\u1161 apart",
    "𠀋 astral 👍🏽 emoji",
    "line\u2028separator and\u00a0no-break space",
    "mixed: Kumamoto熊本TSMC工場 ＴＳＭＣ",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_ascii_fast_path_folds_and_maps_origins_as_cluster_by_cluster(text: str) -> None:
    assert _fold_case_with_origin(text) == fold_case_cluster_by_cluster(text)


def test_ascii_fast_path_matches_cluster_by_cluster_on_random_mixtures() -> None:
    # Pieces chosen to meet at every kind of boundary: ASCII before a combining mark, before and after
    # fullwidth, CJK and expanding characters.
    pieces = ["a", "Z", " ", "7", ".", "\u0301", "\u0308", "Ａ", "ｚ", "臺", "灣", "ß", "ﬁ", "㍿", "’", "é", "İ",
              "\u1100", "\u1161", "👍", "\U0001f3fd", "\n", "\x7f"]
    rng = random.Random(6)
    for _ in range(2_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert _fold_case_with_origin(text) == fold_case_cluster_by_cluster(text), ascii(text)
