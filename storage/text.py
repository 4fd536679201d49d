"""Text as every part of Kuroshio reads it: folded for matching, and made safe to show on one line.

Folding (`normalize`, `words_pattern`, `FoldedText`): the topic filter finds a query's terms in an
article, the digest marks those same terms in what it shows, and search must find what the filter
finds; one definition of how text is folded and how a term is found in it serves all three. It sits in
the store, the lowest layer, because each of the crawler, the digest and the store's own search reads
it. A term is found as a word: at a Latin edge no letter or digit may touch it, at a Han or kana edge
the text's segmentation must put a word boundary (`kuroshio.storage.segment`).

One line (`one_line`, `INVISIBLE`): page text is hostile input: a title may hold CR/LF (header
injection), a bidirectional override (a title that reads backwards) or a BOM. One definition of what
may not stay serves extraction, which stores titles, and the digest, which shows them and puts them in
headers. How many terminal cells a text takes (`display_width`) serves every part that lines text up
on a terminal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import ahocorasick

from kuroshio.storage.segment import CJK_CHAR, CJK_CHARS, Boundaries, word_boundaries

# Control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and
# isolates, and BOMs: none belongs on one line a reader sees.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def one_line(text: str) -> str:
    """`text` on one line: invisible characters become spaces, runs of white space fold to one."""
    return " ".join(INVISIBLE.sub(" ", text).split())


def char_width(char: str) -> int:
    """Terminal cells `char` takes: 2 for wide and full-width forms (CJK, kana, ＴＳＭＣ), 0 for combining
    marks and format characters (a zero-width joiner), 1 for the rest. From Unicode's East Asian Width
    property, which is what terminals follow: the CLI's tables and the crawl's live line measure by it."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal cells `text` takes on one line."""
    return sum(char_width(char) for char in text)


def _read_variant_fold() -> dict[int, str]:
    """The one-character fold of every Han variant to its simplified form (storage/cjk_variants.tsv)."""
    fold = {ord(variant): simplified for variant, simplified in _read_tsv("cjk_variants.tsv")}
    # Apostrophes: the right single quotation mark and the modifier letter are the usual ones in edited
    # text; all mean the ASCII one a query is typed with.
    fold.update({ord("\u2019"): "'", ord("\u2018"): "'", ord("\u02bc"): "'"})
    return fold


def _read_tsv(name: str) -> list[tuple[str, str]]:
    rows = resources.files(__package__).joinpath(name).read_text(encoding="utf-8").splitlines()
    fields = (row.split("\t") for row in rows if row and not row.startswith("#"))
    return [(variant, folded) for variant, folded in fields]


# Each fold maps one character to one character, so folded text keeps the offsets of the text it came
# from: segmentation reads the unfolded text, and its word boundaries hold in the folded one.
_VARIANT_FOLD = _read_variant_fold()

# A Latin word character: a letter, digit or underscore that is not CJK. Latin terms need one of these
# on neither side, so "Taiwan" is found in "在Taiwan的" as well as in "Taiwan's".
_LATIN_WORD_CHAR = f"[^\\W{CJK_CHARS}]"
_LATIN_WORD_CHAR_RE = re.compile(_LATIN_WORD_CHAR)


def fold_case(text: str) -> str:
    """NFKC and casefold: full-width and half-width forms become one, and case goes."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """Fold text to the form queries are matched in: NFKC, casefold, apostrophes and CJK variants."""
    return _fold_variants(fold_case(text))


# Every character the variant fold changes is outside ASCII. str.translate looks each character up in
# the fold's dict once the text holds a single one outside ASCII (a curly apostrophe), so an English
# article costs 0.14 ms; translating only the runs outside ASCII costs 0.03.
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")


def _fold_variants(cased: str) -> str:
    return _NON_ASCII_RUN.sub(lambda run: run.group().translate(_VARIANT_FOLD), cased)


@dataclass(frozen=True, slots=True)
class TermPattern:
    """How one term or phrase is found in folded text.

    `regex` finds its words in order; `FoldedText` then checks its edges: at a Latin edge (`latin_start`,
    `latin_end`) no Latin letter or digit may touch it, at an edge in Han or kana (`cjk_start`,
    `cjk_end`) the text's segmentation must put a word boundary. The edges are checked in Python, not
    in the regex, because a character class of the CJK ranges costs a millisecond to compile and a
    topic of a thousand place names has a thousand patterns. `needle`, the first word, must be in the
    text for the regex to be worth running at all.
    """

    regex: re.Pattern[str]
    latin_start: bool
    latin_end: bool
    cjk_start: bool
    cjk_end: bool
    needle: str


def words_pattern(words: Sequence[str], *, prefix: bool) -> TermPattern:
    """The pattern for normalised words in sequence; a prefix has no boundary at its end."""
    first, last = words[0][0], words[-1][-1]
    return TermPattern(
        _compile(r"\s+".join(re.escape(word) for word in words)),
        latin_start=bool(_LATIN_WORD_CHAR_RE.match(first)),
        latin_end=not prefix and bool(_LATIN_WORD_CHAR_RE.match(last)),
        cjk_start=bool(CJK_CHAR.match(first)),
        cjk_end=not prefix and bool(CJK_CHAR.match(last)),
        needle=words[0],
    )


@lru_cache(maxsize=16384)
def _compile(body: str) -> re.Pattern[str]:
    """`re.compile`, remembered beyond re's own 512 patterns: every crawl process parses its topics."""
    return re.compile(body)


class Needles:
    """The needles of many term patterns, found in a text in one pass (an Aho–Corasick automaton).

    A topic of a thousand place names would otherwise test each needle against the text in turn, a
    scan of the whole text per needle (1.6 ms an article for the default topic); the automaton reads
    the text once, whatever the number of needles, and reports each one present, overlaps included, so
    `found_in` says exactly what `needle in text` would say of each.
    """

    __slots__ = ("_automaton",)

    def __init__(self, patterns: Iterable[TermPattern]) -> None:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for needle in {pattern.needle for pattern in patterns}:
            automaton.add_word(needle, needle)
        self._automaton = automaton if len(automaton) else None
        if self._automaton is not None:
            self._automaton.make_automaton()

    def found_in(self, text: str) -> set[str]:
        """The needles that occur in `text`."""
        if self._automaton is None:
            return set()
        return {needle for _, needle in self._automaton.iter(text)}


SENTENCE_STOP = re.compile(r"[。！？]+[」』”’）)\"']*|[.!?…]+[\"'”’)\]」』]*(?=\s|$)")
"""What ends a sentence, with the closing quotes and brackets after it: in Chinese and Japanese a stop
wherever it stands (no space follows 。！？), in spaced scripts one before white space or the end ("3.5"
and "focustaiwan.tw" go on). An abbreviation's full stop ("Nov. 12") ends one too: a sentence cut short
is all this costs. The extraction's evidence counts sentences by it, the topic filter places terms in them."""

_SENTENCE_BREAK = re.compile(f"(?:{SENTENCE_STOP.pattern})\\s*|\n+")


def sentence_starts(text: str) -> list[int]:
    """The offset where each sentence of `text` begins, the first at 0, ascending: after each
    `SENTENCE_STOP` and the white space after it, and after a line break, since a paragraph or a list
    item is not continued across one."""
    return [0, *(end for match in _SENTENCE_BREAK.finditer(text) if (end := match.end()) < len(text))]


class FoldedText:
    """A text in the form queries are matched in, and where its Chinese and Japanese words begin and end.

    Built from the case-folded text (`fold_case`) so that a caller who maps offsets back to the
    original (the digest's highlighting) can fold it piece by piece; the word boundaries are computed
    on first need only, since most texts never meet a CJK term.
    """

    __slots__ = ("_boundaries", "cased", "text")

    def __init__(self, cased: str) -> None:
        self.cased = cased
        self.text = _fold_variants(cased)
        self._boundaries: Boundaries | None = None

    @classmethod
    def of(cls, text: str) -> FoldedText:
        """`text` folded for matching."""
        return cls(fold_case(text))

    def finditer(self, pattern: TermPattern) -> Iterator[re.Match[str]]:
        """Each occurrence of `pattern` whose CJK edges fall on word boundaries."""
        if pattern.needle not in self.text:
            return
        text = self.text
        for match in pattern.regex.finditer(text):
            start, end = match.span()
            if pattern.latin_start and start > 0 and _LATIN_WORD_CHAR_RE.match(text, start - 1):
                continue
            if pattern.latin_end and _LATIN_WORD_CHAR_RE.match(text, end):
                continue
            if pattern.cjk_start and start not in self.boundaries():
                continue
            if pattern.cjk_end and end not in self.boundaries():
                continue
            if pattern.cjk_start and pattern.cjk_end and self.boundaries().splits_words(start, end):
                continue
            yield match

    def count(self, pattern: TermPattern) -> int:
        """How many times `pattern` occurs as a word (or words)."""
        if pattern.needle not in self.text:
            return 0
        return sum(1 for _ in self.finditer(pattern))

    def boundaries(self) -> Boundaries:
        """The offsets where a CJK word begins or ends (`kuroshio.storage.segment`)."""
        if self._boundaries is None:
            self._boundaries = word_boundaries(self.cased, self.text)
        return self._boundaries
