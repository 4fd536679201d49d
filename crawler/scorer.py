"""A topic's second stage: a linear scorer learned from labelled articles, over features a reader can check.

Why: the rules of a topic (its query, the brief rule, sides that meet, the roundup rule) were tuned one
word list at a time, and on news nobody tuned them on they found about 97% of on-topic stories at about
92% precision: every fresh week brings stories that name both countries for a reason no list foresaw (a
badminton report that never says "badminton", a celebrity wedding). A logistic regression learned on the
labelled set weighs the same evidence the rules read and the story's words together, and generalises
where a word list does not. It judges only where it is confident, and only an article that names every
required side of the query (`Evidence`), so it never invents a topic's countries:

- it vetoes a match of the rules it reads as off topic (probability below `veto_below`);
- it admits an article the rules refused (sides named apart, a gate, a score short of min_score) that it
  reads as on topic (probability at least `rescue_from`).

Anywhere between, the rules decide. Its weights are data (`crawler/scorers/NAME.json`), written by
`benchmarks/train_scorer.py` for one query: a scorer is refused for a topic whose query it was not trained
with, since its features are that query's sides and gates. Its verdicts explain themselves: the
features that weighed most for or against (`Scorer.explain`).

Features (`features`): each required side's score (log) and whether the title names it; how many
sentences name every side, and how many sentences the text has; how many other countries the story names
(`kuroshio.crawler.topics.ROUNDUP_KINDS`); whether each gate of the query holds; and the words, as the
query folds them (`kuroshio.storage.text.FoldedText`): each Latin word, and each pair of neighbouring Han
or kana characters (a single character standing alone), of the title and of the text apart, less the
agencies' names (`OUTLET_WORDS`) and the text's dateline (`_DATELINE`). Character pairs need no segmenter, so training and scoring cannot
disagree on where a word ends.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from kuroshio.storage.segment import CJK_CHARS

SCORER_FORMAT = 1
"""The layout of a scorer's file; raised when a change would misread an older file."""

EXPLAINED_FEATURES = 3
"""How many of the rules' counts, and how many words, an explanation names: enough to see why, short
enough for one line."""

MAX_TOKEN_CHARS = 40
"""A longer Latin run (a pasted hash, a URL's tail) is cut to this: it is never a word the model knows."""

OUTLET_WORDS = frozenset({"kyodo", "cna", "jiji", "nhk", "xinhua", "reuters", "afp", "yonhap", "bernama",
                          "央社", "华社", "華社"})
"""The agencies' names in datelines ("TOKYO, Jan. 5 (Kyodo) --", 中央社, 新华社) are no words of a story: the
labelled set's mix of outlets is ours, not the web's, and a scorer that learned which agency wrote a story
would mark down every story from the source it saw most often off topic."""

_DATELINE = re.compile(
    r"^\s*(?:[(【〔\[][^)】〕\]\n]{1,40}[)】〕\]]"  # (中央社記者王小明台北5日電), 【台北共同】, 〔記者江志雄/蘇澳報導〕
    r"|[^\n()]{0,60}\([^)\n]{1,30}\)\s*(?:--|—|–|-)\s)\s*"  # taipei, oct. 28 (cna) -- / tokyo (kyodo) -
)
"""A story's dateline, in the folded text (NFKC makes （） ASCII): a bracket opening the text, or a place,
date and agency in brackets before a dash. Its words are the agency's house style and the reporter's
name, not the story: the labelled set learned that a Chinese story whose dateline names a CNA reporter
(記者, 中央) is more often off topic, which is a fact about who wrote the set, so they are not read."""

_TOKEN = re.compile(f"[{CJK_CHARS}]+|[^\\W_{CJK_CHARS}]+")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]")
WORD_PREFIXES = ("t:", "b:")
"""How the features that are words begin: a word of the title, a word of the text."""


class ScorerError(ValueError):
    """A scorer that cannot be used: not found, not a scorer file, or trained for another query."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the rules found in an article that names every required side of a topic's query."""

    side_scores: tuple[float, ...]
    sides_in_title: tuple[bool, ...]
    shared_sentences: int
    sentences: int
    other_countries: int
    gates: tuple[bool, ...]


def query_digest(query_text: str) -> str:
    """The digest a scorer's file records of the query it was trained for."""
    return hashlib.sha256(query_text.encode("utf-8")).hexdigest()


def tokens(folded: str) -> set[str]:
    """The words of an already folded text: Latin words, and Han or kana character pairs."""
    found: set[str] = set()
    for token in _TOKEN.findall(folded):
        if token in OUTLET_WORDS:
            continue
        if not _CJK_RUN.match(token):
            found.add(token[:MAX_TOKEN_CHARS])
        elif len(token) == 1:
            found.add(token)
        else:
            found.update(pair for index in range(len(token) - 1) if (pair := token[index:index + 2]) not in OUTLET_WORDS)
    return found


def features(evidence: Evidence, *, title: str, text: str) -> dict[str, float]:
    """The features of one article: the rules' evidence, then the words of its (folded) title and text."""
    named: dict[str, float] = {}
    for number, (score, in_title) in enumerate(zip(evidence.side_scores, evidence.sides_in_title, strict=True)):
        named[f"side{number}"] = math.log1p(score)
        named[f"side{number}_title"] = float(in_title)
    named["shared"] = math.log1p(evidence.shared_sentences)
    named["sentences"] = math.log1p(evidence.sentences)
    named["others"] = math.log1p(evidence.other_countries)
    for number, holds in enumerate(evidence.gates):
        named[f"gate{number}"] = float(holds)
    named.update((f"t:{token}", 1.0) for token in tokens(title))
    named.update((f"b:{token}", 1.0) for token in tokens(_DATELINE.sub("", text, count=1)))
    return named


def describe_feature(name: str) -> str:
    """A feature as a reader knows it: a word in the title or the text, or what the rules counted."""
    if name.startswith("t:"):
        return f'title "{name[2:]}"'
    if name.startswith("b:"):
        return f'"{name[2:]}"'
    if name.startswith("gate"):
        return f"gate {int(name[4:]) + 1} holds"
    if name.startswith("side"):
        number = int(name[4:].split("_")[0]) + 1
        return f"side {number} in the title" if name.endswith("_title") else f"side {number}'s score"
    return {"shared": "sentences naming every side", "sentences": "the text's length in sentences",
            "others": "other countries named"}.get(name, name)


@dataclass(frozen=True)
class Scorer:
    """A learned second stage for one query: its weights, thresholds and where they came from."""

    name: str
    digest: str
    query_digest: str
    intercept: float
    weights: Mapping[str, float]
    veto_below: float
    rescue_from: float
    common: frozenset[str] = frozenset()
    """Words most training articles hold ("the", "in", 日本): weighed like any other, never named in an
    explanation, since they say nothing about what one story is about."""

    def probability(self, named: Mapping[str, float]) -> float:
        """How likely the model finds the article on topic, from its features."""
        logit = self.intercept + sum(self.weights.get(name, 0.0) * value for name, value in named.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))

    def vetoes(self, probability: float) -> bool:
        """Whether the scorer refuses a match of the rules it gives `probability`."""
        return probability < self.veto_below

    def admits(self, probability: float) -> bool:
        """Whether the scorer matches an article the rules refused that it gives `probability`."""
        return probability >= self.rescue_from

    def decides(self, by_rules: bool, probability: float) -> bool:
        """The topic's verdict on an article the scorer judges: the rules' (`by_rules`, whether they match
        it), unless the scorer is confident of the contrary."""
        return not self.vetoes(probability) if by_rules else self.admits(probability)

    def explain(self, named: Mapping[str, float], *, against: bool) -> str:
        """The evidence and then the words that weighed most against the article (or for it), each with
        its weight: the counts alone (a long text, other countries) would not say what the story is about."""
        weighed = [(self.weights.get(name, 0.0) * value, name) for name, value in named.items()]
        chosen = sorted((item for item in weighed if (item[0] < 0) == against and item[0]),
                        key=lambda item: abs(item[0]), reverse=True)
        counted = [item for item in chosen if not item[1].startswith(WORD_PREFIXES)][:EXPLAINED_FEATURES]
        words = [item for item in chosen
                 if item[1].startswith(WORD_PREFIXES) and item[1] not in self.common][:EXPLAINED_FEATURES]
        parts = [", ".join(f"{describe_feature(name)} {weight:+.2f}" for weight, name in group)
                 for group in (counted, words) if group]
        return "; words: ".join(parts) if counted and words else (parts[0] if parts else "nothing")


def shipped_scorer_path(name: str) -> Path:
    """Where a scorer shipped with Kuroshio keeps its weights."""
    return Path(str(resources.files("kuroshio.crawler").joinpath("scorers", f"{name}.json")))


@cache
def load_scorer(reference: str) -> Scorer:
    """The scorer `reference` names: a shipped one by its name (`taiwan-japan`), or a file written by
    `benchmarks/train_scorer.py`, by its path. Read once a process."""
    path = Path(reference) if reference.endswith(".json") else shipped_scorer_path(reference)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ScorerError(f"scorer {reference!r}: cannot read {path} ({error.strerror or error})") from None
    try:
        document = json.loads(raw)
        if document.get("format") != SCORER_FORMAT:
            raise ScorerError(f"scorer {reference!r}: {path} is not a format-{SCORER_FORMAT} scorer file")
        return Scorer(
            name=str(document["name"]),
            digest=hashlib.sha256(raw).hexdigest(),
            query_digest=str(document["query_sha256"]),
            intercept=float(document["intercept"]),
            weights={str(name): float(weight) for name, weight in document["weights"].items()},
            veto_below=float(document["veto_below"]),
            rescue_from=float(document["rescue_from"]),
            common=frozenset(str(name) for name in document.get("common", ())),
        )
    except ScorerError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ScorerError(f"scorer {reference!r}: {path} is not a scorer file ({error})") from None


@cache
def scorer_for(reference: str, query_text: str) -> Scorer:
    """The scorer `reference` names, refused unless it was trained for `query_text`."""
    scorer = load_scorer(reference)
    if scorer.query_digest != query_digest(query_text):
        raise ScorerError(f"scorer {reference!r} was trained for another query: its features are that query's "
                          "sides and gates (train one for this query with benchmarks/train_scorer.py)")
    return scorer
