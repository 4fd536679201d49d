"""Document validators: a crawl asks for feeds, sitemaps, listing pages and robots.txt conditionally.

`document_validators` keeps per discovery document URL the ETag and Last-Modified of its last 200
answer (sent back as If-None-Match and If-Modified-Since), the status and time of its last answer, and
the body of a document that names others (robots.txt, a sitemap index); `crawl_runs.not_modified`
counts the documents of a run that answered 304 Not Modified, 0 for every run already recorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `document_validators`; add `crawl_runs.not_modified` (a plain ADD COLUMN with a default,
    so SQLite does not copy the table)."""
    op.create_table(
        "document_validators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("etag", sa.String(512), nullable=True),
        sa.Column("last_modified", sa.String(512), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_document_validators"),
        sa.UniqueConstraint("url", name="uq_document_validators_url"),
    )
    op.add_column("crawl_runs", sa.Column("not_modified", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Drop `crawl_runs.not_modified` and `document_validators`."""
    op.drop_column("crawl_runs", "not_modified")
    op.drop_table("document_validators")
