"""Initial schema: sources, crawl runs, articles with their URLs and topic matches.

On SQLite built with FTS5 it also creates `articles_fts`, an external-content full-text index over
`articles(title, text)` kept current by triggers; without FTS5, search falls back to LIKE.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

_FTS_STATEMENTS = (
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
)


def upgrade() -> None:
    """Create every table and index, then the SQLite full-text index when available."""
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.UniqueConstraint("name", name="uq_sources_name"),
    )
    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pages_fetched", sa.Integer(), nullable=False),
        sa.Column("articles_new", sa.Integer(), nullable=False),
        sa.Column("articles_relevant", sa.Integer(), nullable=False),
        sa.Column("duplicates_skipped", sa.Integer(), nullable=False),
        sa.Column("errors_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_crawl_runs"),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name="fk_crawl_runs_source_id_sources"
        ),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')", name="ck_crawl_runs_status"
        ),
    )
    op.create_index("ix_crawl_runs_source_id_started_at", "crawl_runs", ["source_id", "started_at"])
    op.create_index("ix_crawl_runs_status", "crawl_runs", ["status"])

    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("canonical_url", sa.String(2048), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_utc_offset", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("crawl_run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name="fk_articles_source_id_sources"),
        sa.ForeignKeyConstraint(
            ["crawl_run_id"],
            ["crawl_runs.id"],
            name="fk_articles_crawl_run_id_crawl_runs",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("url", name="uq_articles_url"),
    )
    op.create_index("ix_articles_source_id", "articles", ["source_id"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_index("ix_articles_first_seen_at", "articles", ["first_seen_at"])
    op.create_index("ix_articles_content_sha256", "articles", ["content_sha256"])
    op.create_index("ix_articles_crawl_run_id", "articles", ["crawl_run_id"])

    op.create_table(
        "article_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_article_urls"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_urls_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("url", name="uq_article_urls_url"),
    )
    op.create_index("ix_article_urls_article_id", "article_urls", ["article_id"])

    op.create_table(
        "topic_matches",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", "topic", name="pk_topic_matches"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_topic_matches_article_id_articles",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_topic_matches_topic", "topic_matches", ["topic"])

    _create_sqlite_fulltext_index()


def downgrade() -> None:
    """Drop everything `upgrade` created."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS articles_fts_after_{event}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    op.drop_table("topic_matches")
    op.drop_table("article_urls")
    op.drop_table("articles")
    op.drop_table("crawl_runs")
    op.drop_table("sources")


def _create_sqlite_fulltext_index() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    has_fts5 = bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
    if not has_fts5:
        logger.warning("this SQLite has no FTS5: full-text search will fall back to LIKE")
        return
    for statement in _FTS_STATEMENTS:
        op.execute(statement)
