"""The full-text index search reads: one document per article, built here from the folded text.

Search must find every article the topic filter would (`kuroshio.storage.query`), so the index is built
from the text as the filter reads it (`kuroshio.storage.text.normalize`: NFKC, width, case, Han
variants) and cut into tokens no coarser than the filter's words: each run of letters and digits
outside Han and kana, and each Han or kana character on its own. A term of the filter is then a phrase
of these tokens wherever the filter finds it — a CJK word of any length is the run of its characters —
so the index can only over-find; `kuroshio.storage.search` confirms each candidate with the filter's own
matcher (word boundaries of the segmenter included).

The store writes the index itself when it stores an article (`index_article`), because only Python
can fold and cut the text; no trigger does. On each backend:

- SQLite: the FTS5 table `articles_search(title, body)`, rowid the article id, holding the tokens
  joined by spaces. Its `ascii` tokenizer only splits on those spaces (every non-ASCII character is a
  token character to it), so it reads exactly the tokens written here, and a query's phrases too.
- PostgreSQL: the table `articles_search(article_id, document tsvector)` with a GIN index. The
  vector is written as a literal, never parsed by a text-search configuration: its lexemes are the
  Latin tokens, each CJK character and each pair of neighbouring CJK characters, so that a CJK word is
  the AND of its pairs — no phrase operator, because a tsvector keeps at most 256 positions of a
  lexeme and none past 16,383, which would lose matches in long articles. The title's lexemes are
  weighted A, the text's D, for `ts_rank`.

SQLite without FTS5 has no index: search then reads every article (`has_search_index`).
Settings: none.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, text

from kuroshio.storage.segment import CJK_CHAR, CJK_CHARS
from kuroshio.storage.text import normalize

SEARCH_TABLE = "articles_search"

# A token: one Han or kana character, or a run of letters and digits in any other script. The
# underscore, which the filter counts as a word character, splits tokens: a finer cut only over-finds.
_TOKEN = re.compile(f"[{CJK_CHARS}]|[^\\W_{CJK_CHARS}]+")

# PostgreSQL refuses lexemes over 2,047 bytes; a longer token (a pasted hash, a base64 blob) is cut
# here, in documents and queries alike, so a cut query token still meets the cut document token.
MAX_TOKEN_CHARS = 100

# Positions kept per lexeme in a tsvector: enough for `ts_rank` to tell one mention from many.
_RANK_POSITIONS = 16
_MAX_POSITION = 16383  # PostgreSQL's largest tsvector position


def index_tokens(raw: str) -> list[str]:
    """The tokens of `raw` as the index holds them: folded, then cut into Latin words and CJK characters.

    CJK punctuation inside the kana block (the middle dot ・) is no token, as a Latin one is none.
    """
    return [token[:MAX_TOKEN_CHARS] for token in _TOKEN.findall(normalize(raw)) if token.isalnum()]


def is_cjk(token: str) -> bool:
    """Whether `token` is a single Han or kana character (a CJK token)."""
    return bool(CJK_CHAR.match(token))


def document_lexemes(tokens: Sequence[str]) -> Iterator[str]:
    """The PostgreSQL lexemes of a document's `tokens`: each Latin token, each CJK character, and each
    pair of neighbouring CJK characters."""
    for index, token in enumerate(tokens):
        yield token
        if index and is_cjk(token) and is_cjk(tokens[index - 1]):
            yield tokens[index - 1] + token


def query_lexemes(tokens: Sequence[str]) -> Iterator[str]:
    """The lexemes a document holds wherever `tokens` occur in sequence: each Latin token, each pair of
    neighbouring CJK characters, and a CJK character with no CJK neighbour."""
    for index, token in enumerate(tokens):
        follows_cjk = index > 0 and is_cjk(tokens[index - 1])
        if not is_cjk(token):
            yield token
        elif follows_cjk:
            yield tokens[index - 1] + token
        elif index + 1 == len(tokens) or not is_cjk(tokens[index + 1]):
            yield token


def has_search_index(connection: Connection) -> bool:
    """Whether this database has the search index (all but SQLite built without FTS5)."""
    if connection.dialect.name != "sqlite":
        return True
    found = connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = :name"), {"name": SEARCH_TABLE})
    return bool(found)


def index_articles(connection: Connection, articles: Iterable[tuple[int, str, str]]) -> None:
    """Write the index documents of `(id, title, text)` articles, replacing any they had; nothing where
    there is no index."""
    if not has_search_index(connection):
        return
    rows = [(article_id, index_tokens(title), index_tokens(body)) for article_id, title, body in articles]
    if not rows:
        return
    ids = [{"id": article_id} for article_id, _, _ in rows]
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"DELETE FROM {SEARCH_TABLE} WHERE rowid = :id"), ids)
        connection.execute(
            text(f"INSERT INTO {SEARCH_TABLE} (rowid, title, body) VALUES (:id, :title, :body)"),
            [{"id": article_id, "title": " ".join(title), "body": " ".join(body)}
             for article_id, title, body in rows],
        )
        return
    connection.execute(text(f"DELETE FROM {SEARCH_TABLE} WHERE article_id = :id"), ids)
    connection.execute(
        text(f"INSERT INTO {SEARCH_TABLE} (article_id, document) VALUES (:id, CAST(:document AS tsvector))"),
        [{"id": article_id, "document": tsvector_literal(title, body)} for article_id, title, body in rows],
    )


def tsvector_literal(title: Sequence[str], body: Sequence[str]) -> str:
    """The tsvector of an article's title and text tokens, as PostgreSQL reads it: `'lexeme':1A,7 ...`."""
    positions: dict[str, list[str]] = defaultdict(list)
    position = 0
    for weight, tokens in (("A", title), ("", body)):
        for lexeme in document_lexemes(tokens):
            position = min(position + 1, _MAX_POSITION)
            if len(positions[lexeme]) < _RANK_POSITIONS:
                positions[lexeme].append(f"{position}{weight}")
    return " ".join(f"{quote_lexeme(lexeme)}:{','.join(marks)}" for lexeme, marks in positions.items())


def quote_lexeme(lexeme: str) -> str:
    """`lexeme` quoted for a tsvector or tsquery literal."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
