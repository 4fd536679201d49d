"""Index on when an article dates from, so listings and digests since a date stop scanning every article.

`storage.articles` and `storage.digests` filter and sort articles by ``coalesce(published_at, first_seen_at)`` (publication time,
else first seen); no column index covers that expression, so `articles list --since` read the whole
table (60–70 ms at 100,000 articles, 2 ms with this index: benchmarks/RESULTS.md, section 4). The
indexed expression must stay the one the queries use, or the planner ignores the index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `ix_articles_effective_date`."""
    op.create_index(
        "ix_articles_effective_date", "articles", [sa.text("coalesce(published_at, first_seen_at)")]
    )


def downgrade() -> None:
    """Drop `ix_articles_effective_date`."""
    op.drop_index("ix_articles_effective_date", table_name="articles")
