"""Digests: which articles each digest delivered, and every attempt at sending one.

`digest_deliveries` is the exactly-once ledger: a row is written only after the mail server accepted
the digest carrying that article. `digest_attempts` records every send attempt (ok, failed with the
SMTP error, empty), so `kuroshio status` can show the last one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `digest_attempts` and `digest_deliveries`."""
    op.create_table(
        "digest_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("articles_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_digest_attempts"),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'empty', 'interrupted')", name="ck_digest_attempts_status"
        ),
    )
    op.create_index("ix_digest_attempts_digest_started_at", "digest_attempts", ["digest", "started_at"])

    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digest_deliveries"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_digest_deliveries_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("digest", "article_id", name="uq_digest_deliveries_digest"),
    )
    op.create_index("ix_digest_deliveries_article_id", "digest_deliveries", ["article_id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_digest_deliveries_article_id", table_name="digest_deliveries")
    op.drop_table("digest_deliveries")
    op.drop_index("ix_digest_attempts_digest_started_at", table_name="digest_attempts")
    op.drop_table("digest_attempts")
