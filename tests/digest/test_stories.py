"""Copies of one story: same body or near-identical title, and the fast path that finds near titles.

`_NearTitles.find` probes only a title's rarest trigrams instead of counting every shared one
(benchmarks/RESULTS.md §4). It is compared here with the plain algorithm, written out in full, on titles
exactly at, just under and just over NEAR_TITLE_SIMILARITY.
"""

from __future__ import annotations

import random

from digest_support import article

from kuroshio.digest.stories import _DIGITS, NEAR_TITLE_SIMILARITY, _NearTitles, _trigrams, fold_copies


def near_title_by_scan(indexed: list[str], key: str) -> int | None:
    """The plain algorithm: the first indexed key whose trigram Jaccard with `key` reaches the threshold
    (computed as `_NearTitles` computes it) and whose numbers are the same."""
    trigrams = _trigrams(key)
    for position, other in enumerate(indexed):
        common = len(trigrams & _trigrams(other))
        if not common:
            continue
        similarity = common / (len(trigrams) + len(_trigrams(other)) - common)
        if similarity >= NEAR_TITLE_SIMILARITY and _DIGITS.findall(other) == _DIGITS.findall(key):
            return position
    return None


def jaccard(first: str, second: str) -> float:
    common = len(_trigrams(first) & _trigrams(second))
    return common / (len(_trigrams(first)) + len(_trigrams(second)) - common)


def near_titles(keys: list[str]) -> _NearTitles:
    index = _NearTitles()
    for position, key in enumerate(keys):
        index.add(position, key)
    return index


def test_unrelated_stories_with_short_or_empty_bodies_are_not_folded_together() -> None:
    first = article("Editorial", text="")
    second = article("Editorial", text="")
    assert len(fold_copies([first, second], shown_limit=10)) == 2


# --- near-identical titles -----------------------------------------------------------------------


def test_title_exactly_at_the_threshold_is_found_both_ways_and_just_under_is_not() -> None:
    at_longer, at_shorter = "typhoon krathon ne", "typhoon kratho"  # 15 trigrams and 12 of them: 0.8
    under_longer, under_shorter = "typhoon krathon n", "typhoon krath"  # 14 and 11 of them: 0.79
    assert jaccard(at_longer, at_shorter) == NEAR_TITLE_SIMILARITY
    assert 0.78 < jaccard(under_longer, under_shorter) < NEAR_TITLE_SIMILARITY
    # Searching the longer title: its 3 trigrams the shorter lacks are in no title, so they are the rarest
    # and probed first; the 4th probe (15 - 12 + 1) must be, and is, one the two share.
    assert near_titles([at_shorter]).find(at_longer) == 0
    assert near_titles([at_longer]).find(at_shorter) == 0
    assert near_titles([under_shorter]).find(under_longer) is None
    assert near_titles([under_longer]).find(under_shorter) is None


def test_first_near_title_wins_and_numbers_must_agree() -> None:
    indexed = ["typhoon krathon nears taiwan", "typhoon update 3 krathon", "typhoon krathon nears taiwan east"]
    assert near_titles(indexed).find("typhoon krathon nears taiwan east") == 0
    assert near_titles(indexed).find("typhoon update 4 krathon") is None
    assert near_titles(indexed).find("typhoon update 3 krathon") == 1


def test_rare_trigram_probe_finds_what_a_full_scan_finds_around_the_threshold() -> None:
    # Variants of a few headlines by deleting, replacing, appending and truncating: pairs land on both
    # sides of the threshold and on it, and many titles share common trigrams (so rarity ordering matters).
    rng = random.Random(8)
    bases = ["taiwan and japan sign fisheries accord", "kumamoto chip plant expands output",
             "typhoon krathon nears southern taiwan", "coast guard drill off yonaguni 2025"]
    keys: list[str] = []
    for _ in range(400):
        key = rng.choice(bases)
        for _ in range(rng.randint(0, 4)):
            spot = rng.randrange(len(key))
            edit = rng.choice(("delete", "replace", "append", "truncate"))
            if edit == "truncate":  # a prefix: its trigrams are a subset, so the ratio of sizes is the Jaccard
                key = key[: rng.randint(min(14, len(key)), len(key))]
            elif edit == "delete":
                key = key[:spot] + key[spot + 1 :]
            elif edit == "replace":
                key = key[:spot] + rng.choice("abcdeklmnorst 0123") + key[spot + 1 :]
            else:
                key += rng.choice((" news", " update", " 2", "s"))
        keys.append(key)
    similarities = {jaccard(first, second) for first in keys[:200] for second in keys[:200]}
    assert NEAR_TITLE_SIMILARITY in similarities  # the boundary itself is exercised ...
    assert any(0.75 <= similarity < NEAR_TITLE_SIMILARITY for similarity in similarities)  # ... and just under it

    for size in (1, 5, 50, 200):
        indexed = keys[:size]
        index = near_titles(indexed)
        for key in keys:
            assert index.find(key) == near_title_by_scan(indexed, key), key


def test_fold_copies_folds_titles_at_the_threshold_and_not_just_under() -> None:
    # Title keys are the normalised words: "Typhoon Krathon NE" → "typhoon krathon ne".
    at = [article("Typhoon Krathon NE"), article("Typhoon Kratho", text="Another body.")]
    under = [article("Typhoon Krathon N"), article("Typhoon Krath", text="Another body.")]
    assert [len(story) for story in fold_copies(at, shown_limit=10)] == [2]
    assert [len(story) for story in fold_copies(under, shown_limit=10)] == [1, 1]
