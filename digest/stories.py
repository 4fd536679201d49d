"""Which owed articles are copies of one story, so that a digest shows each story once.

Copies are articles with the same body (`content_sha256`) or a near-identical title: the same words after
normalisation (as topic matching normalises them), or the same numbers and a character-trigram overlap
(Jaccard) of at least `NEAR_TITLE_SIMILARITY`. A title shorter than `MIN_TITLE_KEY_CHARS` folds nothing.

Settings: `digests[].max_articles` (near-identical titles are looked for among the stories shown only).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence

from kuroshio.storage.models import Article
from kuroshio.storage.text import normalize

NEAR_TITLE_SIMILARITY = 0.8
MIN_TITLE_KEY_CHARS = 12  # shorter titles ("Editorial", "News in brief") fold nothing

_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")


def fold_copies(articles: Sequence[Article], *, shown_limit: int) -> list[list[Article]]:
    """Group copies of one story, keeping the input order (each story led by its first article).

    Same body or same title words fold across the whole list; near-identical titles are compared
    with the first `shown_limit` stories only, the ones a reader will see (it keeps a huge backlog fast).
    """
    stories: list[list[Article]] = []
    by_body: dict[str, int] = {}
    by_title: dict[str, int] = {}
    near_titles = _NearTitles()
    for article in articles:
        body_key = article.content_sha256 if article.text.strip() else None
        title_key = _title_key(article.title)
        position = by_body.get(body_key) if body_key else None
        if position is None and title_key:
            position = by_title.get(title_key)
            if position is None:
                position = near_titles.find(title_key)
        if position is None:
            position = len(stories)
            stories.append([])
            if title_key and position < shown_limit:
                near_titles.add(position, title_key)
        stories[position].append(article)
        if body_key:
            by_body.setdefault(body_key, position)
        if title_key:
            by_title.setdefault(title_key, position)
    return stories


def _title_key(title: str) -> str | None:
    """The title's words, normalised as topic matching does; None when too short to identify a story."""
    key = " ".join(_WORD.findall(normalize(title)))
    return key if len(key) >= MIN_TITLE_KEY_CHARS else None


class _NearTitles:
    """Titles indexed by character trigram, to find one whose trigrams overlap a new title's by at
    least NEAR_TITLE_SIMILARITY (Jaccard) and which carries the same numbers: "Typhoon update 3" and
    "Typhoon update 4" are different stories, however alike they look."""

    def __init__(self) -> None:
        self.index: dict[str, list[int]] = defaultdict(list)
        self.trigrams: dict[int, set[str]] = {}
        self.numbers: dict[int, list[str]] = {}

    def add(self, position: int, key: str) -> None:
        trigrams = _trigrams(key)
        self.trigrams[position] = trigrams
        self.numbers[position] = _DIGITS.findall(key)
        for trigram in trigrams:
            self.index[trigram].append(position)

    def find(self, key: str) -> int | None:
        """The first indexed title near `key`, or None.

        Prefix filter: a near title shares at least ⌈NEAR_TITLE_SIMILARITY · n⌉ of the key's n trigrams
        (Jaccard is at most shared / n), hence one of any n − ⌈NEAR_TITLE_SIMILARITY · n⌉ + 1 of them; only
        that many are looked up, the rarest (a trigram no title has costs nothing), and the candidates
        they name get their overlap counted exactly.
        """
        trigrams = _trigrams(key)
        if not trigrams:
            return None
        numbers = _DIGITS.findall(key)
        by_rarity = sorted(trigrams, key=lambda trigram: len(self.index.get(trigram, ())))
        probes = by_rarity[: len(trigrams) - math.ceil(NEAR_TITLE_SIMILARITY * len(trigrams)) + 1]
        candidates = {position for trigram in probes for position in self.index.get(trigram, ())}
        for position in sorted(candidates):
            common = len(trigrams & self.trigrams[position])
            similarity = common / (len(trigrams) + len(self.trigrams[position]) - common)
            if similarity >= NEAR_TITLE_SIMILARITY and self.numbers[position] == numbers:
                return position
        return None


def _trigrams(key: str) -> set[str]:
    return {key[index : index + 3] for index in range(len(key) - 2)}
