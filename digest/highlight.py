"""Highlighting: the topic terms an article matched, marked in its title and excerpt.

Terms come as stored with the article's topic matches (`Taiwan`, `Japan*`, `"Taiwan Strait"`) and are
found the way topic matching finds them (case-, width- and CJK-variant-insensitive, `kuroshio.storage.text`):
on the normalised text, each match mapped back to the span of the original text it came from, so the
mark falls on the words as published. A prefix term marks the whole word it begins ("Japanese" for `Japan*`).

Settings: none here; which terms are marked follows `topics[].query` and `digests[].topics`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from kuroshio.storage.query import VIA
from kuroshio.storage.text import FoldedText, TermPattern, fold_case, normalize, words_pattern

_ASCII_RUN = re.compile("[\x00-\x7f]+")
_LATIN_WORD_TAIL = "[a-z0-9\u00df-\u024f]*"  # the rest of a casefolded Latin word


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text, `marked` when it is a matched topic term."""

    text: str
    marked: bool = False


def term_patterns(terms: Iterable[str]) -> list[TermPattern]:
    """The patterns topic matching used for `terms` as stored (`Taiwan`, `Japan*`, `"Taiwan Strait"`)."""
    patterns = []
    for stored in terms:
        written = stored.partition(VIA)[0]  # "熊本 → Japan": the place as written, then what it stood for
        if len(written) > 2 and written.startswith('"') and written.endswith('"'):
            patterns.append(words_pattern(normalize(written[1:-1]).split(), prefix=False))
        elif written.endswith("*") and len(written) > 1:
            # Mark the whole word a prefix matched ("Japanese" for Japan*), not just the prefix.
            prefix = words_pattern([normalize(written[:-1])], prefix=True)
            patterns.append(replace(prefix, regex=re.compile(prefix.regex.pattern + _LATIN_WORD_TAIL)))
        elif written:
            patterns.append(words_pattern([normalize(written)], prefix=False))
    return patterns


def highlight(text: str, patterns: Sequence[TermPattern]) -> tuple[Segment, ...]:
    """`text` cut into segments, the ones matching a pattern (on the folded text) marked."""
    if not patterns or not text:
        return (Segment(text),) if text else ()
    cased, origin = _fold_case_with_origin(text)
    folded = FoldedText(cased)
    spans: list[tuple[int, int]] = []
    for pattern in patterns:
        for match in folded.finditer(pattern):
            if match.end() > match.start():
                spans.append((origin[match.start()][0], origin[match.end() - 1][1]))
    segments: list[Segment] = []
    position = 0
    for start, end in _merge(spans):
        if start > position:
            segments.append(Segment(text[position:start]))
        segments.append(Segment(text[start:end], marked=True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return tuple(segments)


def _fold_case_with_origin(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`fold_case(text)` built cluster by cluster (a character and its combining marks), with the
    span of the original text each folded character came from (the variant fold that `FoldedText`
    applies next keeps offsets).

    A run of ASCII characters is folded at once: each is a cluster of its own, folded by `lower()`
    alone (NFKC keeps ASCII as it is; casefold changes no other ASCII character) —
    except a run's last character when combining marks follow it, which goes the slow way with them.
    """
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        ascii_run = _ASCII_RUN.match(text, start)
        if ascii_run:
            end = ascii_run.end()
            if end < len(text) and unicodedata.combining(text[end]):
                end -= 1  # the run's last character and the marks after it are one cluster
            if end > start:
                pieces.append(text[start:end].lower())
                origin.extend(zip(range(start, end), range(start + 1, end + 1)))
                start = end
                continue
        end = start + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        folded = fold_case(text[start:end])
        pieces.append(folded)
        origin.extend([(start, end)] * len(folded))
        start = end
    return "".join(pieces), origin


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
