"""Search: the stored articles where a topic query holds, found as the topic filter finds its terms.

A search query is a topic query (`kuroshio.storage.query`: terms, prefix*, "phrases", AND, OR, NOT,
parentheses, @Country). Each term is looked up in the search index (`kuroshio.storage.search_index`),
which holds the text folded as the filter folds it, cut into Latin words and single Han or kana
characters: the index finds every article the filter would, and some more (日台 in 朝日台, which a
segmenter reads as 朝日 + 台). So each candidate is then read with the filter's own matcher
(`kuroshio.storage.text.FoldedText`), and only those where the query holds are returned: search finds
exactly what the filter finds, in every script and form (ＴＳＭＣ is TSMC, 半导体 is 半導體).

Candidates come best first — FTS5's bm25 on SQLite, `ts_rank` on PostgreSQL, a title hit weighing
ten times a text hit — newest first among equals, a page at a time until `limit` articles hold.

NOT only narrows: the index cannot say where a term is absent as the filter reads it, so a query
needs something to look for outside NOT. A query is at most `MAX_QUERY_CHARS` characters,
`MAX_TERMS` different terms (a repeated term counts once) and `MAX_NESTING` levels deep; anything
else is a QuerySyntaxError, one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, cast, column, func, literal_column, select, table
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from kuroshio.storage.articles import newest_first
from kuroshio.storage.models import Article
from kuroshio.storage.query import (
    And,
    Leaf,
    Not,
    Or,
    Phrase,
    Place,
    Query,
    QuerySyntaxError,
    Term,
    evaluate,
    occurrences,
    parse_query,
)
from kuroshio.storage.search_index import (
    SEARCH_TABLE,
    has_search_index,
    index_tokens,
    is_cjk,
    query_lexemes,
    quote_lexeme,
)
from kuroshio.storage.text import FoldedText, TermPattern

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
MAX_TERMS = 64
MAX_NESTING = 32

# A term's first tokens are enough to find its candidates (the rest is confirmed by reading them): a
# pasted paragraph must not become a phrase of thousands of tokens.
_TOKENS_PER_TERM = 16

# Candidates read per page, doubling up to the last: few when the index is precise, many when not.
_FIRST_PAGE = 50
_LARGEST_PAGE = 1600

# A title hit weighs this many text hits in the ranking (bm25's column weights; ts_rank weighs A
# against D the same way by default).
_TITLE_WEIGHT = 10.0

_SEARCH_TABLE = table(SEARCH_TABLE, column("rowid"), column("article_id"), column("document"))


def search_articles(session: Session, query: str, *, limit: int | None = 50) -> list[Article]:
    """The articles where `query` holds as the topic filter reads it, best match first, at most `limit`
    (None: every one).

    Raises QuerySyntaxError (a subclass of ValueError) for a query that cannot be read or searched.
    """
    parsed = parse_search_query(query)
    found: list[Article] = []
    for article in _candidates(session, parsed):
        if _holds(parsed, article):
            found.append(article)
            if len(found) == limit:
                break
    return found


def parse_search_query(query: str) -> Query:
    """`query` parsed and checked for search: repeated terms once, within the caps, something to find."""
    if (position := _first_unencodable(query)) is not None:
        raise QuerySyntaxError(f"not valid UTF-8 at position {position}", position=position)
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"longer than {MAX_QUERY_CHARS:,} characters", position=MAX_QUERY_CHARS)
    try:
        parsed = parse_query(query)
    except RecursionError:
        raise QuerySyntaxError(f"nested more than {MAX_NESTING} levels deep", position=0) from None
    depth, terms = _shape(parsed)
    if depth > MAX_NESTING:
        raise QuerySyntaxError(f"nested more than {MAX_NESTING} levels deep", position=0)
    if terms > MAX_TERMS:
        raise QuerySyntaxError(
            f"{terms} different terms, more than {MAX_TERMS} (a repeated term counts once)", position=0
        )
    parsed = _without_repeats(parsed)
    if _fts5_query(parsed) is None:
        raise QuerySyntaxError(
            "nothing to search for: the query (each side of an OR) needs a term with a letter or digit "
            "outside NOT",
            position=0,
        )
    return parsed


def _first_unencodable(query: str) -> int | None:
    """Where `query` holds a lone surrogate (a command line that was not UTF-8), if it does."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


def _shape(query: Query) -> tuple[int, int]:
    """How deep `query` nests and how many different terms it has, read without recursion (a deep
    query must be refused, not overflow the stack)."""
    deepest = 0
    terms: set[TermPattern | str] = set()
    pending: list[tuple[Query, int]] = [(query, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        match node:
            case Term() | Phrase():
                terms.add(node.pattern)
            case Place(country=country):
                terms.add(f"@{country.casefold()}")
            case And(children) | Or(children):
                pending.extend((child, depth + 1) for child in children)
            case Not(child):
                pending.append((child, depth + 1))
    return deepest, len(terms)


def _without_repeats(query: Query) -> Query:
    """`query` with each AND and OR holding a child once (TSMC TSMC is TSMC, and ＴＳＭＣ TSMC too)."""
    match query:
        case And(children) | Or(children):
            unique: dict[object, Query] = {}
            for child in map(_without_repeats, children):
                unique.setdefault(_identity(child), child)
            kept = tuple(unique.values())
            return kept[0] if len(kept) == 1 else type(query)(kept)
        case Not(child):
            return Not(_without_repeats(child))
    return query


def _identity(query: Query) -> object:
    """What makes two query nodes the same for search: a term's or phrase's pattern, not its spelling."""
    if isinstance(query, (Term, Phrase)):
        return query.pattern
    return query


def _holds(query: Query, article: Article) -> bool:
    """Whether `query` holds in `article`, read exactly as the topic filter reads it."""
    return evaluate(query, occurrences(query, FoldedText.of(article.title), FoldedText.of(article.text)))[0]


def _candidates(session: Session, query: Query) -> Iterator[Article]:
    """Articles the index finds for `query`, best first, a page at a time (every article, newest
    first, on SQLite without FTS5)."""
    ranked = _ranked_candidates(session, query)
    offset, page_size = 0, _FIRST_PAGE
    while ids := list(session.scalars(ranked.offset(offset).limit(page_size))):
        by_id = {article.id: article for article in session.scalars(select(Article).where(Article.id.in_(ids)))}
        yield from (by_id[article_id] for article_id in ids if article_id in by_id)
        offset += len(ids)
        page_size = min(page_size * 2, _LARGEST_PAGE)


def _ranked_candidates(session: Session, query: Query) -> Select[int]:
    """The ids of the articles the index finds for `query`, in rank order."""
    connection = session.connection()
    if not has_search_index(connection):
        return select(Article.id).order_by(*newest_first())
    if connection.dialect.name == "sqlite":
        match_target: ColumnElement[Any] = literal_column(SEARCH_TABLE)
        rank = func.bm25(match_target, _TITLE_WEIGHT, 1.0)
        return (
            select(Article.id)
            .join(_SEARCH_TABLE, _SEARCH_TABLE.c.rowid == Article.id)
            .where(match_target.op("MATCH")(bindparam("fts5_query", _fts5_query(query))))
            .order_by(rank, *newest_first())
        )
    tsquery = cast(bindparam("tsquery", _tsquery(query), type_=String), TSQUERY)
    return (
        select(Article.id)
        .join(_SEARCH_TABLE, _SEARCH_TABLE.c.article_id == Article.id)
        .where(_SEARCH_TABLE.c.document.op("@@")(tsquery))
        .order_by(func.ts_rank(_SEARCH_TABLE.c.document, tsquery).desc(), *newest_first())
    )


def _leaf_tokens(leaf: Leaf) -> tuple[list[str], bool]:
    """The index tokens that find `leaf`, and whether the last of them is a prefix."""
    tokens = index_tokens(leaf.text)
    prefix = isinstance(leaf, Term) and leaf.prefix and len(tokens) <= _TOKENS_PER_TERM
    return tokens[:_TOKENS_PER_TERM], prefix


def _fts5_query(query: Query) -> str | None:
    """The FTS5 expression finding every article where `query` may hold; None where it cannot narrow
    (a NOT, or a term without letters or digits, may hold anywhere)."""
    match query:
        case Term() | Phrase():
            tokens, prefix = _leaf_tokens(query)
            if not tokens:
                return None
            return '"' + " ".join(tokens) + '"' + (" *" if prefix else "")
        case Not():
            return None
        case Place(children=children):
            return _fts5_query(Or(children))
        case And(children) | Or(children):
            return _combine([_fts5_query(child) for child in children], isinstance(query, And), ("AND", "OR"))
    raise TypeError(f"not a query node: {query!r}")


def _tsquery(query: Query) -> str | None:
    """The PostgreSQL tsquery finding every article where `query` may hold (None as for `_fts5_query`):
    a term is the AND of its lexemes (`kuroshio.storage.search_index.query_lexemes`)."""
    match query:
        case Term() | Phrase():
            tokens, prefix = _leaf_tokens(query)
            lexemes = [quote_lexeme(lexeme) for lexeme in dict.fromkeys(query_lexemes(tokens))]
            if prefix and not is_cjk(tokens[-1]):
                lexemes[lexemes.index(quote_lexeme(tokens[-1]))] += ":*"
            return " & ".join(lexemes) or None
        case Not():
            return None
        case Place(children=children):
            return _tsquery(Or(children))
        case And(children) | Or(children):
            return _combine([_tsquery(child) for child in children], isinstance(query, And), ("&", "|"))
    raise TypeError(f"not a query node: {query!r}")


def _combine(parts: Sequence[str | None], conjunction: bool, operators: tuple[str, str]) -> str | None:
    """Parts joined by AND (those that narrow; None if none does) or by OR (None if any cannot narrow)."""
    if conjunction:
        narrowing = [part for part in parts if part is not None]
        return f" {operators[0]} ".join(f"({part})" for part in narrowing) or None
    if any(part is None for part in parts):
        return None
    return f" {operators[1]} ".join(f"({part})" for part in parts)
