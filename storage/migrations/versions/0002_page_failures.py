"""Page failures: article pages that could not be stored, so a gone page is not fetched every crawl.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `page_failures`."""
    op.create_table(
        "page_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], name="fk_page_failures_source_id_sources"),
        sa.PrimaryKeyConstraint("id", name="pk_page_failures"),
        sa.UniqueConstraint("url", name="uq_page_failures_url"),
    )
    op.create_index("ix_page_failures_source_id", "page_failures", ["source_id"])
    op.create_index("ix_page_failures_last_failed_at", "page_failures", ["last_failed_at"])


def downgrade() -> None:
    """Drop `page_failures`."""
    op.drop_index("ix_page_failures_last_failed_at", table_name="page_failures")
    op.drop_index("ix_page_failures_source_id", table_name="page_failures")
    op.drop_table("page_failures")
