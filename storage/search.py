"""Full-text search over stored titles and texts: SQLite's FTS5 index where it helps, substrings elsewhere."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from kuroshio.storage.articles import newest_first
from kuroshio.storage.models import (
    Article,
)

logger = logging.getLogger(__name__)


# Scripts written without spaces between words: FTS5's unicode61 tokenizer would index a whole run of
# them as one token, so words in them are searched as substrings (LIKE) instead.
_UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]"
)

# Runs of letters and digits: how FTS5's unicode61 tokenizer splits text into tokens, so that both search
# paths see the same words in user input (quotes, operators and other punctuation only separate them).
_WORD_PIECE = re.compile(r"[^\W_]+")


def search_articles(session: Session, words: str, *, limit: int = 50) -> list[Article]:
    """Articles containing every word of `words` in title or text, best match first.

    Uses the SQLite FTS5 index (ranked by bm25, title hits weighing more) when there is one and the
    words are space-delimited; otherwise a case-insensitive substring match, newest first. Either way
    a word is its runs of letters and digits, in order (``"U.S."`` is ``U`` then ``S``): quotes and
    operators in user input are plain punctuation, never query syntax.
    """
    terms = [word for word in words.split() if _WORD_PIECE.search(word)]
    if not terms:
        return []
    if _has_fulltext_index(session) and not any(_UNSPACED_SCRIPT.search(term) for term in terms):
        return _search_fulltext(session, terms, limit=limit)
    return _search_substrings(session, terms, limit=limit)


def _has_fulltext_index(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = session.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'articles_fts'"))
    return bool(found)


def _search_fulltext(session: Session, terms: Sequence[str], *, limit: int) -> list[Article]:
    # Each word becomes an FTS5 string ("..." with inner quotes doubled): no operator, column filter
    # or prefix syntax from the user survives. Space-separated strings must all match.
    fts_query = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    ranked_ids = session.scalars(
        text(
            "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :query "
            "ORDER BY bm25(articles_fts, 10.0, 1.0) LIMIT :limit"
        ),
        {"query": fts_query, "limit": limit},
    ).all()
    articles = session.scalars(select(Article).where(Article.id.in_(ranked_ids)))
    by_id = {article.id: article for article in articles}
    return [by_id[article_id] for article_id in ranked_ids if article_id in by_id]


def _search_substrings(session: Session, terms: Sequence[str], *, limit: int) -> list[Article]:
    conditions = []
    for term in terms:
        # The substring counterpart of the FTS5 phrase a quoted word becomes: its pieces in order. Pieces
        # are letters and digits only, so they carry no LIKE wildcard or escape character.
        pattern = "%" + "%".join(_WORD_PIECE.findall(term)) + "%"
        conditions.append(or_(Article.title.ilike(pattern), Article.text.ilike(pattern)))
    return list(session.scalars(select(Article).where(*conditions).order_by(*newest_first()).limit(limit)))
