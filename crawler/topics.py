"""Topics: a named query from the configuration, and how an article is scored against it.

Pure functions, no I/O. A topic is matched on an article's title and extracted text only, never on
page furniture or metadata. The topic list in the configuration (name, query, min_score per topic)
changes what is matched; `default_topics()` is the built-in Taiwan–Japan topic.

The query language (syntax, folding, how a term is found) is `kuroshio.storage.query`, shared with
search.

Scoring, so that a passing mention does not count: a term scores its occurrences in the text plus
TITLE_WEIGHT × its occurrences in the title; OR sums its children; AND takes the minimum of its
children, since a topic is only as strong as its weakest required side; NOT is a gate that adds no
score (an AND ignores its gates when taking the minimum). An article matches a topic when the query
holds and the score reaches the topic's min_score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kuroshio.storage.query import Leaf, LeafScore, Query, evaluate, parse_query, positive_leaves
from kuroshio.storage.records import TopicMatch
from kuroshio.storage.text import FoldedText, TermPattern

TITLE_WEIGHT = 3
"""One occurrence in the title is worth this many in the body: a headline names what a story is about."""

DEFAULT_MIN_SCORE = 2.0
"""With AND taking the minimum, every required side must reach this score: two mentions in the body or
one in the title. A single passing mention ("... as Japan did last year") is not enough."""

DEFAULT_TOPIC_NAME = "taiwan-japan"

# 台灣 stands for 臺灣 and 台湾, and 東京 for 东京 (see kuroshio.storage.text): one form of each is
# enough. 台日 and 日台, the press's shorthand for Taiwan–Japan (台日關係, 日台関係, 日台交流),
# sit on both sides because they name both countries at once. Taipei and Tokyo are there as the
# governments' names; as datelines they add one mention, which the min score absorbs. CJK terms match
# words only, so neighbouring words that happen to spell a term (今日台北, 平台日前) do not count.
DEFAULT_TOPIC_QUERY = (
    "(Taiwan OR Taiwanese OR Taipei OR 台灣 OR 台北 OR 台日 OR 日台)"
    " AND (Japan OR Japanese OR Tokyo OR 日本 OR 東京 OR 台日 OR 日台)"
)

@dataclass(frozen=True)
class Topic:
    """A named query and the score an article must reach to be on topic."""

    name: str
    query: Query
    min_score: float

    @classmethod
    def from_config(cls, name: str, query: str, min_score: float = DEFAULT_MIN_SCORE) -> Topic:
        """Build a topic from its configured query text; raises QuerySyntaxError on a bad query."""
        return cls(name=name, query=parse_query(query), min_score=min_score)


def default_topics() -> list[Topic]:
    """The built-in topics, used when the configuration names none: Taiwan–Japan."""
    return [Topic.from_config(DEFAULT_TOPIC_NAME, DEFAULT_TOPIC_QUERY)]


def match_topic(topic: Topic, *, title: str, text: str) -> TopicMatch | None:
    """Score an article's title and text against one topic; None unless it holds and reaches min_score."""
    return _match(topic, FoldedText.of(title), FoldedText.of(text))


def match_topics(topics: Sequence[Topic], *, title: str, text: str) -> list[TopicMatch]:
    """Every topic the article matches, in the order the topics are given."""
    folded_title, folded_text = FoldedText.of(title), FoldedText.of(text)
    return [match for topic in topics if (match := _match(topic, folded_title, folded_text)) is not None]


def _match(topic: Topic, title: FoldedText, text: FoldedText) -> TopicMatch | None:
    leaf_scores: dict[Leaf, float] = {}

    def leaf_score(leaf: Leaf) -> float:
        if leaf not in leaf_scores:
            occurrences = text.count(leaf.pattern) + TITLE_WEIGHT * title.count(leaf.pattern)
            leaf_scores[leaf] = float(occurrences)
        return leaf_scores[leaf]

    holds, score = evaluate(topic.query, leaf_score)
    if not holds or (score or 0.0) < topic.min_score:
        return None
    return TopicMatch(topic=topic.name, score=score or 0.0, terms=_matched_terms(topic.query, leaf_score))


def _matched_terms(query: Query, leaf_score: LeafScore) -> tuple[str, ...]:
    """The positive terms that occurred, one per normalised form, by score descending then as written."""
    best: dict[TermPattern, tuple[float, str]] = {}
    for leaf in positive_leaves(query):
        score = leaf_score(leaf)
        if score > 0:
            best.setdefault(leaf.pattern, (score, leaf.written))
    return tuple(written for _, written in sorted(best.values(), key=lambda item: (-item[0], item[1])))
