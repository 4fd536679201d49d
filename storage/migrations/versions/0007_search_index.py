"""The search index built from folded text (`articles_search`), replacing 0001's `articles_fts`.

`articles_fts` indexed the raw text with FTS5's unicode61 tokenizer, so search missed what the topic
filter finds: TSMC inside 日本のTSMC工場 (no space, one token), ＴＳＭＣ for TSMC, 半导体 for 半導體; and
PostgreSQL had no index at all. `articles_search` holds a document per article built in Python from the
text as the filter folds it (`kuroshio.storage.search_index`), on SQLite (FTS5) and PostgreSQL
(tsvector with a GIN index) alike. The store writes it with each article, so the triggers go.

Existing articles are indexed here, in batches. The downgrade restores `articles_fts` and its triggers
and rebuilds it from the articles.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from kuroshio.storage.search_index import SEARCH_TABLE, index_articles

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

_BACKFILL_BATCH = 500

# 0001's index, as it was, for the downgrade.
_OLD_FTS_STATEMENTS = (
    """
    CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, text, content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER articles_fts_after_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END
    """,
    """
    CREATE TRIGGER articles_fts_after_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END
    """,
    """
    CREATE TRIGGER articles_fts_after_update AFTER UPDATE OF title, text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END
    """,
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
)


def upgrade() -> None:
    """Drop `articles_fts` and its triggers, create `articles_search` and index every stored article."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _drop_old_fulltext_index()
        if not bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar():
            logger.warning("this SQLite has no FTS5: search will read every article")
            return
        # ascii: the documents are tokens joined by spaces, and only spaces (and ASCII punctuation,
        # which no token holds) must split them; an article deleted by hand leaves the index with it.
        op.execute(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(title, body, tokenize='ascii')")
        op.execute(
            f"CREATE TRIGGER {SEARCH_TABLE}_after_delete AFTER DELETE ON articles BEGIN "
            f"DELETE FROM {SEARCH_TABLE} WHERE rowid = old.id; END"
        )
    else:
        op.create_table(
            SEARCH_TABLE,
            sa.Column("article_id", sa.Integer(), nullable=False),
            sa.Column("document", TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE",
                                    name=f"fk_{SEARCH_TABLE}_article_id_articles"),
            sa.PrimaryKeyConstraint("article_id", name=f"pk_{SEARCH_TABLE}"),
        )
        op.create_index(f"ix_{SEARCH_TABLE}_document", SEARCH_TABLE, ["document"], postgresql_using="gin")
    _index_stored_articles(bind)


def _index_stored_articles(bind: sa.Connection) -> None:
    """Index every article, a batch at a time, in id order."""
    after = 0
    batch_query = sa.text("SELECT id, title, text FROM articles WHERE id > :after ORDER BY id LIMIT :batch")
    while rows := [tuple(row) for row in bind.execute(batch_query, {"after": after, "batch": _BACKFILL_BATCH})]:
        index_articles(bind, rows)
        after = rows[-1][0]


def _drop_old_fulltext_index() -> None:
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS articles_fts_after_{event}")
    op.execute("DROP TABLE IF EXISTS articles_fts")


def downgrade() -> None:
    """Drop `articles_search`; on SQLite with FTS5, restore 0001's `articles_fts`, its triggers and content."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_table(SEARCH_TABLE)
        return
    op.execute(f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_after_delete")
    op.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    if bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar():
        for statement in _OLD_FTS_STATEMENTS:
            op.execute(statement)
