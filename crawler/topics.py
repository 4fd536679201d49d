"""Topic queries: parse a boolean query from the configuration and score an article against it.

Pure functions, no I/O. A topic is matched on an article's title and extracted text only, never on
page furniture or metadata. The topic list in the configuration (name, query, min_score per topic)
changes what is matched; `default_topics()` is the built-in Taiwan–Japan topic.

Query syntax
    Taiwan                  a term; Latin terms match whole words: Taiwan matches "Taiwan's" and
                            "Taiwan-Japan" but not "Taiwanese"
    Japan*                  a trailing * makes a prefix: matches Japan, Japanese, Japan's
    台湾                    a term in Han, Hiragana or Katakana matches a word, or a word inside a
                            compound, as a Chinese or Japanese segmenter reads the text: 台湾 in
                            台湾人, 日台 in 日台交流, but not 日台 in the place name 朝日台 nor
                            台日 in 今日台北 ("today, Taipei")
    "Taiwan Strait"         a phrase: the words in order, separated by any whitespace
    a AND b, a b            both (adjacent terms are ANDed)
    a OR b                  either
    NOT a                   a does not occur
    ( ... )                 grouping; otherwise NOT binds tighter than AND, and AND than OR

AND, OR and NOT are keywords only in upper case; "and" is an ordinary term. The query is read after
Unicode NFKC, so full-width letters, parentheses and quotes work too.

Normalisation (`normalize`, applied to queries and texts alike): NFKC (full-width and half-width
forms become one), casefold, curly apostrophes to ', and a fold of every Han variant to its simplified
form, from OpenCC's tables (`kuroshio.storage.text`, shared with search and the digest), so that 台灣,
臺灣 and 台湾 are one form, 半導體 meets 半导体, and 熊本縣 meets 熊本県.

Scoring, so that a passing mention does not count: a term scores its occurrences in the text plus
TITLE_WEIGHT × its occurrences in the title; OR sums its children; AND takes the minimum of its
children, since a topic is only as strong as its weakest required side; NOT is a gate that adds no
score (an AND ignores its gates when taking the minimum). An article matches a topic when the query
holds and the score reaches the topic's min_score.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from kuroshio.storage.records import TopicMatch
from kuroshio.storage.text import FoldedText, TermPattern, normalize, words_pattern

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

_KEYWORDS = frozenset({"AND", "OR", "NOT"})


class QuerySyntaxError(ValueError):
    """A topic query that cannot be parsed; `position` is the 0-based character offset in the query."""

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    """One word as written in the query; `prefix` when it was written with a trailing `*`."""

    text: str
    prefix: bool = False
    pattern: TermPattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", words_pattern([normalize(self.text)], prefix=self.prefix))

    @property
    def written(self) -> str:
        """The term as it appears in the query."""
        return f"{self.text}*" if self.prefix else self.text

    def __str__(self) -> str:
        return self.written


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must occur in this order, as written between the quotes."""

    text: str
    pattern: TermPattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", words_pattern(normalize(self.text).split(), prefix=False))

    @property
    def written(self) -> str:
        """The phrase as it appears in the query, quotes included."""
        return f'"{self.text}"'

    def __str__(self) -> str:
        return self.written


@dataclass(frozen=True, slots=True)
class And:
    """All children must hold; scores the weakest of its scoring children."""

    children: tuple[Query, ...]

    def __str__(self) -> str:
        return " AND ".join(f"({child})" if isinstance(child, Or) else str(child) for child in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must hold; scores the sum of its children."""

    children: tuple[Query, ...]

    def __str__(self) -> str:
        return " OR ".join(str(child) for child in self.children)


@dataclass(frozen=True, slots=True)
class Not:
    """Holds when its child does not; a gate that contributes no score."""

    child: Query

    def __str__(self) -> str:
        return f"NOT ({self.child})" if isinstance(self.child, (And, Or)) else f"NOT {self.child}"


Leaf: TypeAlias = Term | Phrase
Query: TypeAlias = Term | Phrase | And | Or | Not
_LeafScore: TypeAlias = Callable[[Leaf], float]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "phrase", "(", ")", "AND", "OR", "NOT", "end"
    text: str
    position: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of query"
        if self.kind == "phrase":
            return f'"{self.text}"'
        if self.kind == "word":
            return repr(self.text)
        if self.kind in ("(", ")"):
            return f"'{self.kind}'"
        return self.kind


def _tokenize(query: str) -> list[_Token]:
    """Split a query into tokens, classifying each character by its NFKC form (so （ is a parenthesis)."""
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        char = query[position]
        folded = _nfkc(char)
        if char.isspace():
            position += 1
        elif folded in ("(", ")"):
            tokens.append(_Token(folded, char, position))
            position += 1
        elif folded == '"':
            end = next((i for i in range(position + 1, len(query)) if _nfkc(query[i]) == '"'), None)
            if end is None:
                raise QuerySyntaxError(
                    f"unterminated phrase at position {position}: no closing '\"'", position=position
                )
            inner = query[position + 1 : end]
            if not inner.strip():
                raise QuerySyntaxError(f"empty phrase at position {position}", position=position)
            tokens.append(_Token("phrase", inner.strip(), position))
            position = end + 1
        else:
            end = position
            while end < len(query) and not query[end].isspace() and _nfkc(query[end]) not in '()"':
                end += 1
            word = query[position:end]
            keyword = _nfkc(word)
            tokens.append(_Token(keyword if keyword in _KEYWORDS else "word", word, position))
            position = end
    tokens.append(_Token("end", "", len(query)))
    return tokens


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _term(token: _Token) -> Term:
    """The Term a query word stands for, rejecting misplaced `*` and a `-` meant as negation."""
    word = token.text
    stem = word[:-1] if word.endswith("*") else word
    if "*" in stem:
        position = token.position + stem.index("*")
        raise QuerySyntaxError(
            f"'*' is only allowed at the end of a term at position {position}", position=position
        )
    if not stem:
        raise QuerySyntaxError(
            f"'*' needs a term before it at position {token.position}", position=token.position
        )
    if len(stem) > 1 and stem.startswith("-"):
        raise QuerySyntaxError(
            f"a leading '-' does not negate at position {token.position}: write NOT {word[1:]}",
            position=token.position,
        )
    return Term(stem, prefix=word.endswith("*"))


class _Parser:
    """Recursive descent over: or := and (OR and)*; and := not ([AND] not)*; not := NOT not | primary."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Query:
        if self.current.kind == "end":
            raise QuerySyntaxError("empty query", position=0)
        query = self.parse_or()
        if self.current.kind == ")":
            position = self.current.position
            raise QuerySyntaxError(
                f"unbalanced parenthesis at position {position}: ')' has no matching '('", position=position
            )
        return query

    def parse_or(self) -> Query:
        children = [self.parse_and()]
        while self.current.kind == "OR":
            self.advance()
            children.append(self.parse_and())
        return _flatten(Or, children)

    def parse_and(self) -> Query:
        children = [self.parse_not()]
        while self.current.kind in ("AND", "NOT", "word", "phrase", "("):
            if self.current.kind == "AND":
                self.advance()
            children.append(self.parse_not())
        return _flatten(And, children)

    def parse_not(self) -> Query:
        if self.current.kind == "NOT":
            self.advance()
            return Not(self.parse_not())
        return self.parse_primary()

    def parse_primary(self) -> Query:
        token = self.current
        if token.kind == "word":
            self.advance()
            return _term(token)
        if token.kind == "phrase":
            self.advance()
            return Phrase(token.text)
        if token.kind == "(":
            self.advance()
            query = self.parse_or()
            if self.current.kind != ")":
                raise QuerySyntaxError(
                    f"unbalanced parenthesis at position {token.position}: '(' is never closed",
                    position=token.position,
                )
            self.advance()
            return query
        after = f" after {self.tokens[self.index - 1].describe()}" if self.index else ""
        raise QuerySyntaxError(
            f"expected a term{after} at position {token.position}, found {token.describe()}",
            position=token.position,
        )


def _flatten(node_type: type[And] | type[Or], children: list[Query]) -> Query:
    """One child stands for itself; nested nodes of the same type merge (both operators associate)."""
    if len(children) == 1:
        return children[0]
    flat: list[Query] = []
    for child in children:
        flat.extend(child.children if isinstance(child, node_type) else (child,))
    return node_type(tuple(flat))


def parse_query(text: str) -> Query:
    """Parse a topic query into its syntax tree; raises QuerySyntaxError naming the position."""
    return _Parser(_tokenize(text)).parse()


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

    holds, score = _evaluate(topic.query, leaf_score)
    if not holds or (score or 0.0) < topic.min_score:
        return None
    return TopicMatch(topic=topic.name, score=score or 0.0, terms=_matched_terms(topic.query, leaf_score))


def _evaluate(query: Query, leaf_score: _LeafScore) -> tuple[bool, float | None]:
    """Whether the query holds and its score; a score of None marks a NOT gate, which scores nothing."""
    match query:
        case Term() | Phrase():
            score = leaf_score(query)
            return score > 0, score
        case Not(child):
            return not _evaluate(child, leaf_score)[0], None
        case And(children) | Or(children):
            results = [_evaluate(child, leaf_score) for child in children]
            scores = [score for _, score in results if score is not None]
            if isinstance(query, And):
                return all(holds for holds, _ in results), min(scores, default=None)
            return any(holds for holds, _ in results), sum(scores) if scores else None
    raise TypeError(f"not a query node: {query!r}")


def _matched_terms(query: Query, leaf_score: _LeafScore) -> tuple[str, ...]:
    """The positive terms that occurred, one per normalised form, by score descending then as written."""
    best: dict[TermPattern, tuple[float, str]] = {}
    for leaf in _positive_leaves(query):
        score = leaf_score(leaf)
        if score > 0:
            best.setdefault(leaf.pattern, (score, leaf.written))
    return tuple(written for _, written in sorted(best.values(), key=lambda item: (-item[0], item[1])))


def _positive_leaves(query: Query) -> Iterator[Leaf]:
    """Terms and phrases in query order, skipping those under a NOT: they are evidence against."""
    match query:
        case Term() | Phrase():
            yield query
        case And(children) | Or(children):
            for child in children:
                yield from _positive_leaves(child)

