"""Where each crawl ran: `crawl_runs.host`, `.node` and `.job`.

A crawl dispatched to a Scrapyd node (`kuroshio.scheduler.scale`) runs on another machine: its pid means
nothing on the daemon's host, so a run records the host its process runs on (`host`; the pid is checked
only there), the Scrapyd node that ran it (`node`, its URL; none for a crawl run here) and its Scrapyd
job id (`job`, by which the daemon finds the run of a job it dispatched). Runs already recorded keep
NULL: they ran where the daemon does.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the three nullable columns (plain ADD COLUMNs: SQLite does not copy the table) and the job index."""
    op.add_column("crawl_runs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("crawl_runs", sa.Column("node", sa.String(255), nullable=True))
    op.add_column("crawl_runs", sa.Column("job", sa.String(64), nullable=True))
    op.create_index("ix_crawl_runs_job", "crawl_runs", ["job"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_crawl_runs_job", table_name="crawl_runs")
    op.drop_column("crawl_runs", "job")
    op.drop_column("crawl_runs", "node")
    op.drop_column("crawl_runs", "host")
