"""The topic query language, read once for the filter and for search: syntax, parser and evaluation.

A query is parsed into a tree of terms, phrases and boolean nodes. The topic filter scores an article
against it (`kuroshio.crawler.topics`); search finds the articles where it holds
(`kuroshio.storage.search`). Both find a term the same way (`kuroshio.storage.text`), so search finds
what the filter finds. It lives in the store, the lowest layer, because search does.

Query syntax
    Taiwan                  a term; Latin terms match whole words: Taiwan matches "Taiwan's" and
                            "Taiwan-Japan" but not "Taiwanese"
    Japan*                  a trailing * makes a prefix: matches Japan, Japanese, Japan's
    台湾                    a term in Han, Hiragana or Katakana matches a word, or a word inside a
                            compound, as a Chinese or Japanese segmenter reads the text: 台湾 in
                            台湾人, 日台 in 日台交流, but not 日台 in the place name 朝日台 nor
                            台日 in 今日台北 ("today, Taipei")
    "Taiwan Strait"         a phrase: the words in order, separated by any whitespace
    @Japan                  a country by all its names: its own, its people's, its capital's, its
                            first-level divisions' and major cities' (Kumamoto, 熊本, 熊本県) in
                            English, Chinese and Japanese, from the gazetteer shipped with Kuroshio;
                            matched terms say which place stood for it: 熊本 → Japan
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
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

from kuroshio.storage.gazetteer import UnknownCountry, place_names
from kuroshio.storage.text import FoldedText, Needles, TermPattern, normalize, words_pattern

_KEYWORDS = frozenset({"AND", "OR", "NOT"})

VIA = " → "
"""Between a term and the country it was found for, in matched terms: `熊本 → Japan`."""


class QuerySyntaxError(ValueError):
    """A topic query that cannot be parsed; `position` is the 0-based character offset in the query."""

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    """One word as written in the query; `prefix` when it was written with a trailing `*`; `via` names
    the country whose `@` expansion brought it in."""

    text: str
    prefix: bool = False
    via: str | None = None
    pattern: TermPattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", words_pattern([normalize(self.text)], prefix=self.prefix))

    @property
    def written(self) -> str:
        """The term as it appears in the query, or as the place it stands for ("熊本 → Japan")."""
        written = f"{self.text}*" if self.prefix else self.text
        return f"{written}{VIA}{self.via}" if self.via and self.via != self.text else written

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
class Place:
    """`@Japan`: the names of a country, its people and its places, any of which holds; scores as an OR.

    The names come from the gazetteer shipped with Kuroshio (`kuroshio.storage.gazetteer`), so a story
    that names only 熊本 and 高雄 is still about Japan and Taiwan.
    """

    country: str
    children: tuple[Term, ...]

    def __str__(self) -> str:
        return f"@{self.country}"


@dataclass(frozen=True, slots=True)
class Not:
    """Holds when its child does not; a gate that contributes no score."""

    child: Query

    def __str__(self) -> str:
        return f"NOT ({self.child})" if isinstance(self.child, (And, Or)) else f"NOT {self.child}"


Leaf: TypeAlias = Term | Phrase
_Key = TypeVar("_Key")
_Built = TypeVar("_Built")
Query: TypeAlias = Term | Phrase | And | Or | Place | Not
LeafScore: TypeAlias = Callable[[Leaf], float]


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


def _place(token: _Token) -> Place:
    """The Place `@Country` stands for; an unknown country names the position and the close matches."""
    try:
        return place(_nfkc(token.text)[1:])
    except UnknownCountry as error:
        raise QuerySyntaxError(f"{error} at position {token.position}", position=token.position) from None


def place(country: str, *, kinds: Collection[str] | None = None) -> Place:
    """The Place of `country` (a name, alias or code the gazetteer knows; else UnknownCountry), with its
    names of `kinds` only when given (`kuroshio.storage.gazetteer.KINDS`), one term per folded form."""
    names = place_names(country)
    canonical = names[0].country
    terms = {normalize(name.name): Term(name.name, via=canonical)
             for name in names if kinds is None or name.kind in kinds}
    return Place(country, tuple(terms.values()))


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
            return _place(token) if _nfkc(token.text).startswith("@") else _term(token)
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


def occurrences(query: Query, title: FoldedText, text: FoldedText, *, title_weight: float = 1.0) -> Occurrences:
    """The leaf score the topic filter and search share, for the leaves of `query`: a term's occurrences
    in `text` plus `title_weight` × those in `title`, each leaf counted once."""
    needles = needles_of(query)
    return Occurrences(needles.found_in(text.text) | needles.found_in(title.text), title, text, title_weight)


class Occurrences:
    """A leaf score (`LeafScore`) that knows which needles the article holds, so that a country's
    thousands of names are looked at only where one of them occurs (`present_children`), and where each
    term it scored was found (`starts`), so that asking where a side is named matches nothing again."""

    __slots__ = ("_found", "_present", "_query_starts", "_text", "_title", "_title_weight")

    def __init__(self, present: set[str], title: FoldedText, text: FoldedText, title_weight: float) -> None:
        self._present = present
        self._title, self._text, self._title_weight = title, text, title_weight
        self._found: dict[TermPattern, tuple[list[int], list[int]]] = {}
        self._query_starts: dict[tuple[int, bool], tuple[Query, list[int]]] = {}

    def __call__(self, leaf: Leaf) -> float:
        # Most of a thousand place names are in neither: a term whose first word is absent scores 0
        # with one set lookup, before any hashing or matching.
        if leaf.pattern.needle not in self._present:
            return 0.0
        in_text, in_title = self._where(leaf.pattern)
        return float(len(in_text) + self._title_weight * len(in_title))

    def starts(self, leaf: Leaf, *, in_title: bool = False) -> list[int]:
        """Where `leaf` begins each time it occurs in the text, or in the title."""
        if leaf.pattern.needle not in self._present:
            return []
        return self._where(leaf.pattern)[1 if in_title else 0]

    def query_starts(self, query: Query, *, in_title: bool) -> list[int]:
        """`occurrence_starts`, found once for each query object (kept beside it, so its id is not reused)."""
        kept = self._query_starts.get((id(query), in_title))
        if kept is not None and kept[0] is query:
            return kept[1]
        starts = sorted({start for leaf in occurring_leaves(query, self) for start in self.starts(leaf, in_title=in_title)})
        self._query_starts[(id(query), in_title)] = (query, starts)
        return starts

    def _where(self, pattern: TermPattern) -> tuple[list[int], list[int]]:
        if pattern not in self._found:
            self._found[pattern] = ([match.start() for match in self._text.finditer(pattern)],
                                    [match.start() for match in self._title.finditer(pattern)])
        return self._found[pattern]

    def present_children(self, place: Place) -> tuple[Term, ...]:
        """The terms of `place` whose needle occurs, in the place's order: the only ones that can score."""
        by_needle = _children_by_needle(place)
        positions = sorted(position for needle in self._present.intersection(by_needle)
                           for position in by_needle[needle])
        return tuple(place.children[position] for position in positions)


class _KeptByIdentity(Generic[_Key, _Built]):
    """What `build` made of an object, kept by the object's identity, not its value: hashing the default
    topic's tree of thousands of terms costs more than matching an article with it. A topic's query is
    one object for the life of its process, and search evaluates one query object against every
    candidate. The object is kept beside what was built, so its id is not reused meanwhile; the oldest
    goes once `KEPT` are held."""

    KEPT = 64

    def __init__(self, build: Callable[[_Key], _Built]) -> None:
        self._build = build
        self._kept: dict[int, tuple[_Key, _Built]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: _Key) -> _Built:
        kept = self._kept.get(id(key))
        if kept is not None and kept[0] is key:
            return kept[1]
        built = self._build(key)
        with self._lock:
            if len(self._kept) >= self.KEPT:
                del self._kept[next(iter(self._kept))]
            self._kept[id(key)] = (key, built)
        return built


def _index_children(place: Place) -> dict[str, tuple[int, ...]]:
    positions: dict[str, list[int]] = {}
    for position, child in enumerate(place.children):
        positions.setdefault(child.pattern.needle, []).append(position)
    return {needle: tuple(found) for needle, found in positions.items()}


_children_by_needle = _KeptByIdentity(_index_children)
"""Where each needle's terms sit among a place's children, built once per Place object."""


def _find_needles(query: Query) -> Needles:
    return Needles(leaf.pattern for leaf in _leaves(query))


needles_of = _KeptByIdentity(_find_needles)
"""The needles of every term and phrase in a query, those under a NOT included, built once per query."""


def _leaves(query: Query) -> Iterator[Leaf]:
    """Every term and phrase in `query`, those under a NOT included."""
    match query:
        case Term() | Phrase():
            yield query
        case Not(child):
            yield from _leaves(child)
        case Place(children=children):
            yield from children
        case And(children) | Or(children):
            for child in children:
                yield from _leaves(child)


def evaluate(query: Query, leaf_score: LeafScore) -> tuple[bool, float | None]:
    """Whether the query holds and its score; a score of None marks a NOT gate, which scores nothing."""
    match query:
        case Term() | Phrase():
            score = leaf_score(query)
            return score > 0, score
        case Not(child):
            return not evaluate(child, leaf_score)[0], None
        case Place(children=children):
            # An OR of its terms, scored without building one: a country has thousands of names, and
            # only those whose needle occurs can score (`Occurrences.present_children`).
            if not children:
                return False, None
            if isinstance(leaf_score, Occurrences):
                children = leaf_score.present_children(query)
            scores = [leaf_score(child) for child in children]
            return any(score > 0 for score in scores), sum(scores, 0.0)
        case And(children) | Or(children):
            results = [evaluate(child, leaf_score) for child in children]
            scores = [score for _, score in results if score is not None]
            if isinstance(query, And):
                return all(holds for holds, _ in results), min(scores, default=None)
            return any(holds for holds, _ in results), sum(scores) if scores else None
    raise TypeError(f"not a query node: {query!r}")


def occurring_leaves(query: Query, leaf_score: LeafScore) -> Iterator[Leaf]:
    """`positive_leaves`, less the terms of a place whose needle the article lacks (they score 0)."""
    match query:
        case Place() if isinstance(leaf_score, Occurrences):
            yield from leaf_score.present_children(query)
        case And(children) | Or(children):
            for child in children:
                yield from occurring_leaves(child, leaf_score)
        case Not():
            return
        case _:
            yield from positive_leaves(query)


def occurrence_starts(query: Query, leaf_score: Occurrences, *, in_title: bool = False) -> list[int]:
    """Where each occurrence in the text (or the title) of `query`'s positive terms begins, ascending:
    where a side of a topic is named, for asking whether two sides are named together. Kept by the
    article's `Occurrences` for each query object: the topic's rules and its second stage both ask."""
    return leaf_score.query_starts(query, in_title=in_title)


def positive_leaves(query: Query) -> Iterator[Leaf]:
    """Terms and phrases in query order, skipping those under a NOT: they are evidence against."""
    match query:
        case Term() | Phrase():
            yield query
        case Place(children=children):
            yield from children  # its terms, without a generator for each of hundreds
        case And(children) | Or(children):
            for child in children:
                yield from positive_leaves(child)
