"""Text as every part of Kuroshio reads it: folded for matching, and made safe to show on one line.

Folding (`normalize`, `words_pattern`): the topic filter finds a query's terms in an article, the
digest marks those same terms in what it shows, and search must find what the filter finds; one
definition of how text is folded and how a term is found in it serves all three. It sits in the store,
the lowest layer, because each of the crawler, the digest and the store's own search reads it.

One line (`one_line`, `INVISIBLE`): page text is hostile input: a title may hold CR/LF (header
injection), a bidirectional override (a title that reads backwards) or a BOM. One definition of what
may not stay serves extraction, which stores titles, and the digest, which shows them and puts them in
headers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and
# isolates, and BOMs: none belongs on one line a reader sees.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def one_line(text: str) -> str:
    """`text` on one line: invisible characters become spaces, runs of white space fold to one."""
    return " ".join(INVISIBLE.sub(" ", text).split())


# Each fold maps a variant to its simplified Chinese form. Only variants of one character are folded,
# so a fold joins spellings across scripts without adding meanings; 係 is the one exception, below.
_VARIANT_FOLD = str.maketrans(
    {
        "臺": "台",  # formal traditional form (臺灣); 台 is the everyday form in all scripts
        "灣": "湾",  # traditional; 湾 is both simplified and Japanese
        "東": "东",  # traditional and Japanese; 东 simplified (東京/东京)
        "關": "关",  # traditional; 関 is Japanese, 关 simplified (關係/関係/关系)
        "関": "关",
        # Simplified Chinese already merged 係 (relation) into 系, so the fold adds no ambiguity that a
        # simplified text does not have; it is needed for 關係/関係 to meet 关系.
        "係": "系",
        "\u2019": "'",  # right single quotation mark, the usual apostrophe in edited text
        "\u2018": "'",
        "\u02bc": "'",  # modifier letter apostrophe
    }
)

_CJK_RANGES = (
    "\u3005\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
# A Latin word character: a letter, digit or underscore that is not CJK. Latin terms need one of these
# on neither side, so "Taiwan" is found in "在Taiwan的" as well as in "Taiwan's".
_LATIN_WORD_CHAR = f"[^\\W{_CJK_RANGES}]"
_LATIN_WORD_CHAR_RE = re.compile(_LATIN_WORD_CHAR)


def normalize(text: str) -> str:
    """Fold text to the form queries are matched in: NFKC, casefold, apostrophes and CJK variants."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_VARIANT_FOLD)


def words_pattern(words: Sequence[str], *, prefix: bool) -> re.Pattern[str]:
    """The pattern for normalised words in sequence, with word boundaries on Latin edges only."""
    body = r"\s+".join(re.escape(word) for word in words)
    if _LATIN_WORD_CHAR_RE.match(words[0][0]):
        body = f"(?<!{_LATIN_WORD_CHAR}){body}"
    if not prefix and _LATIN_WORD_CHAR_RE.match(words[-1][-1]):
        body = f"{body}(?!{_LATIN_WORD_CHAR})"
    return re.compile(body)
