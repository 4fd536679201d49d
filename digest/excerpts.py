"""Text cut to fit a digest: the excerpt under each headline, and the one-line, capped form that titles
and the footer's error messages are shown in.

- Excerpt: the first two or three sentences of the clean text (a third when the first two together are
  shorter than `EXCERPT_SHORT_CHARS`), at most `EXCERPT_MAX_CHARS`; a longer run is cut at a word
  boundary with an ellipsis.
- Sentences end at .!? (with any closing quotes or brackets) before a space, or at a CJK full stop; an
  abbreviation (Mr., Jan., U.S.) or a lower-case continuation does not end one.
- One line: control and invisible formatting characters dropped, white space folded, cut to a limit at a
  word boundary.

Settings: none; the limits are the constants below.
"""

from __future__ import annotations

import re

from kuroshio.storage.text import one_line

EXCERPT_MAX_CHARS = 480
EXCERPT_SHORT_CHARS = 200  # two sentences shorter than this together get a third

# End of a sentence: .!? and any closing quotes or brackets, then space; or a CJK full stop.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f][\u300d\u300f\u201d\u2019]*\s*")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st no gen sen rep gov lt col capt sgt jr sr inc co corp ltd vs etc approx est fig"
    " jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


def clean_line(text: str, limit: int) -> str:
    """`text` as one line: control and invisible formatting characters dropped, white space folded,
    cut to `limit` characters at a word boundary."""
    return shorten(one_line(text), limit)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary when there is one, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "\u2026"


def excerpt(text: str) -> str:
    """The first two or three sentences of `text` (a third when the first two are short), at most
    EXCERPT_MAX_CHARS; a longer run is cut at a word boundary with an ellipsis."""
    sentences: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = clean_line(paragraph, len(paragraph) + 1)
        sentences.extend(split_sentences(paragraph))
        if len(sentences) >= 3:
            break
    chosen: list[str] = []
    for sentence in sentences:
        if len(chosen) == 3 or (len(chosen) == 2 and len(" ".join(chosen)) >= EXCERPT_SHORT_CHARS):
            break
        if chosen and len(" ".join([*chosen, sentence])) > EXCERPT_MAX_CHARS:
            break
        chosen.append(sentence)
    return shorten(" ".join(chosen), EXCERPT_MAX_CHARS)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph. Abbreviations (Mr., Jan., U.S.) and a lower-case continuation do not
    end a sentence; CJK full stops do, with or without a following space."""
    sentences: list[str] = []
    start = 0
    for boundary in _SENTENCE_END.finditer(paragraph):
        following = paragraph[boundary.end() : boundary.end() + 1]
        if following.islower():
            continue
        if boundary.group()[0] == "." and _is_abbreviation(paragraph[start : boundary.start()]):
            continue
        sentence = paragraph[start : boundary.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = boundary.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(before_period: str) -> bool:
    words = before_period.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'(\u201c\u2018[")
    return word.lower().rstrip(".") in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Za-z]\.)*[A-Za-z]", word) is not None
