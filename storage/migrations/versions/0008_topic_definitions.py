"""Topic definitions: which definition of each topic the stored matches reflect, and rematch progress.

Topics were matched once, when an article was crawled: editing or adding a topic left the archive scored
by the old definition. `topic_definitions` records each topic's definition fingerprint, when the archive
was last re-scored against it, and how far a rematch has come (so an interrupted one resumes);
`topic_matches.rematched_at` marks the matches a rematch found, which a digest does not owe for old
articles. Topics get no row here: the first `kuroshio topics rematch` (or daemon start) re-scores them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `topic_definitions`; add `topic_matches.rematched_at`, null (found by a crawl) for every
    match already stored. A plain ADD COLUMN: a batch rebuild on SQLite would copy the whole table."""
    op.create_table(
        "topic_definitions",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rematch_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rematched_through", sa.Integer(), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_topic_definitions"),
    )
    op.add_column("topic_matches", sa.Column("rematched_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop `topic_matches.rematched_at` and `topic_definitions`."""
    op.drop_column("topic_matches", "rematched_at")
    op.drop_table("topic_definitions")
