"""Digests to several targets: what one target accepted while another has not yet.

`digest_target_deliveries` keeps per digest, target (an SMTP server, an Apprise URL, named without its
secrets) and article the deliveries that are still partial: a target that failed is retried with what
it lacks, and the targets that accepted get nothing twice. Once every target has accepted an article it
moves to `digest_deliveries` as before, so the table holds only what is in flight.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `digest_target_deliveries`."""
    op.create_table(
        "digest_target_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digest_target_deliveries"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_digest_target_deliveries_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("digest", "target", "article_id", name="uq_digest_target_deliveries_digest"),
    )
    op.create_index("ix_digest_target_deliveries_article_id", "digest_target_deliveries", ["article_id"])


def downgrade() -> None:
    """Drop `digest_target_deliveries`."""
    op.drop_index("ix_digest_target_deliveries_article_id", table_name="digest_target_deliveries")
    op.drop_table("digest_target_deliveries")
