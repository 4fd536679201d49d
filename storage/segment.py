"""Where words begin and end in Chinese and Japanese text, which is written without spaces.

A query term in Han or kana must match a word, or a word inside a compound, never a run of characters
that happens to spell it across two words: 日台 is not in 朝日台 (a place name), 台日 is not in 今日台北
("today, Taipei"). The filter, the digest's highlighting and search all ask the same question — is this
offset a word boundary? — and this module answers it with a maintained segmenter for each language:

- Japanese: SudachiPy with its core dictionary, split mode A (the shortest units, so 台湾 is a word of
  台湾人観光客); a run of text is read as Japanese when it holds kana, or when the document does.
- Chinese: jieba (the Rust port, rjieba) in search mode, which also yields the words inside a long
  word (台湾 and 台湾人). jieba's dictionary is simplified Chinese, so it reads the variant-folded text
  (臺灣 → 台湾), which has the same offsets as the text it came from. Search mode's inner words invent
  boundaries inside whole words, and two neighbouring whole words can then spell a term between their
  inner boundaries: 天文台|日环食 yields 文台 and 环食, so 台日 would start and end on boundaries. So the
  whole words (jieba's default mode) are kept too, and a match that begins inside one whole word and
  ends inside another is refused (`Boundaries.splits_words`).

A run that begins with 日 right after a day of the month written in digits (3日, 12日) begins with the
date's own character, not a word: 3日台州 is "on the 3rd, Taizhou" and 1日本稼働 "on the 1st, full
operation", so neither 日台 nor 日本 begins there (`_DAY`). A run's first offset is otherwise always a
boundary, so no segmenter is asked.

Settings: none. The boundaries of a text are computed once, and only when a CJK term occurs in it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sudachipy import Tokenizer

# Han (with 々 and the compatibility and extension blocks) and kana: the scripts written unspaced.
CJK_CHARS = (
    "\u3005\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
CJK_CHAR = re.compile(f"[{CJK_CHARS}]")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_KANA = re.compile("[\u3040-\u309f\u30a1-\u30fa\u31f0-\u31ff]")  # hiragana and katakana, not the ー mark

# A document is Japanese when at least this share of its CJK characters is kana. Japanese prose runs at
# 30–40 %; a Chinese text quoting a brand in katakana stays far below.
_JAPANESE_KANA_SHARE = 0.1

# One or two digits that are no part of a longer number or a Latin word (G7, 2025), followed by 日: a day of
# the month, in Chinese and Japanese alike.
_DAY = re.compile("(?<![0-9a-z])[0-9]{1,2}(?=日)")

# SudachiPy refuses inputs over 49,149 bytes; a run longer than this is cut (a boundary where it is cut).
_MAX_RUN_CHARS = 4000


class Boundaries(frozenset[int]):
    """Every offset where a CJK word or a word inside a compound begins or ends, and which of them are
    the edges of whole words (`whole`): a Japanese morpheme's, a Chinese word's in jieba's default
    mode, a CJK run's."""

    whole: frozenset[int]

    def __new__(cls, offsets: set[int], whole: set[int]) -> Boundaries:
        boundaries = super().__new__(cls, offsets)
        boundaries.whole = frozenset(whole)
        return boundaries

    def splits_words(self, start: int, end: int) -> bool:
        """Whether text[start:end] is spelt across a whole word's edge by the tail of one whole word and
        the head of another (天文台|日环食's 台日). A span that begins or ends on a whole word's edge is
        a word of its own even when jieba's default mode joins its last character to the next word
        (宮城縣 in 宫城|县政府, 石垣市 in 石垣|市长), so it is not split."""
        whole = self.whole
        if start in whole or end in whole:
            return False
        return any(offset in whole for offset in range(start + 1, end))


def word_boundaries(cased: str, folded: str) -> Boundaries:
    """Offsets of `cased` at which a CJK word begins or ends, every CJK run's edges included.

    `cased` is the text after NFKC and casefolding; `folded` is the same text with CJK variants folded
    (`kuroshio.storage.text`), character for character, so one offset means the same place in both.
    """
    runs = [(run.start(), run.end()) for run in _CJK_RUN.finditer(cased)]
    if not runs:
        return Boundaries(set(), set())
    cjk_chars = sum(end - start for start, end in runs)
    document_is_japanese = len(_KANA.findall(cased)) >= _JAPANESE_KANA_SHARE * cjk_chars
    boundaries: set[int] = set()
    whole: set[int] = set()
    for run_start, run_end in runs:
        for start in range(run_start, run_end, _MAX_RUN_CHARS):
            end = min(start + _MAX_RUN_CHARS, run_end)
            whole.update((start, end))
            if document_is_japanese or _KANA.search(cased, start, end):
                whole.update(_japanese_boundaries(cased[start:end], start))
            else:
                whole.update(_chinese_boundaries(folded[start:end], start, mode="default"))
                boundaries.update(_chinese_boundaries(folded[start:end], start, mode="search"))
    dates = {day.end() for day in _DAY.finditer(cased)}
    return Boundaries((boundaries | whole) - dates, whole - dates)


def _japanese_boundaries(run: str, offset: int) -> set[int]:
    morphemes = _japanese_tokenizer().tokenize(run)
    return {offset + edge for morpheme in morphemes for edge in (morpheme.begin(), morpheme.end())}


def _chinese_boundaries(run: str, offset: int, *, mode: str) -> set[int]:
    # Imported on the first Chinese text (its dictionary loads with it, a tenth of a second): a crawl that
    # finds nothing new reads no text.
    import rjieba

    return {offset + edge for _, begin, end in rjieba.tokenize(run, mode=mode) for edge in (begin, end)}


@cache
def _japanese_tokenizer() -> Tokenizer:
    """SudachiPy's tokenizer, built on first use: its dictionary takes memory a crawl of English news
    never needs."""
    from sudachipy import Dictionary, SplitMode

    # Only the surface is read: loading no other field of the dictionary saves memory and time.
    return Dictionary(dict="core").tokenizer(mode=SplitMode.A, fields=set())
