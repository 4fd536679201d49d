"""Articles stored from a page that showed only part of them: `articles.partial`.

A paywalled page (JSON-LD `isAccessibleForFree: false`, its paid part not served) or an archive teaser
(Focus Taiwan's "Full text of the story is now in CNA English news archive") is news too: the crawler
stores its title and lead and marks it partial, instead of recording the page as a failure. Articles
stored before this migration were whole pages (a shorter text was refused), so they are not partial.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, never a batch "move and copy": on SQLite that rebuilds `articles` and loses its
# full-text triggers and the expression index of 0005. SQLite adds a NOT NULL column with a constant
# default in place, and drops one (3.35 and later) in place.


# What the crawler recorded for a page under the 200-character floor this release replaces.
CHARACTER_COUNT_REFUSAL = "no content: article text too short (% characters)"


def upgrade() -> None:
    """Add `articles.partial`, false for every article already stored, and forget the pages refused for
    their character count, so that the next crawl judges them again (many are Chinese or Japanese briefs,
    or paywalled leads): remembered, they would not be fetched for a week, when feeds have dropped them."""
    op.add_column("articles", sa.Column("partial", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("DELETE FROM page_failures WHERE reason LIKE :refusal").bindparams(refusal=CHARACTER_COUNT_REFUSAL))


def downgrade() -> None:
    """Drop `articles.partial` (the forgotten refusals stay forgotten: the next crawl records them again)."""
    op.drop_column("articles", "partial")
