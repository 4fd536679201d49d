"""Article pages that could not be stored, remembered so a crawl does not fetch a dead page again soon.

A permanent failure (gone, no article) keeps its URL out of crawls for `FAILED_PAGE_RECHECK`; a
transient one is only counted, and the next crawl tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    MAX_ERROR_REASON_CHARS,
    MAX_URL_LENGTH,
    PageFailure,
)
from kuroshio.storage.records import PageFailure as CrawledPageFailure
from kuroshio.storage.sources import add_source_if_missing
from kuroshio.storage.timestamps import as_stored

logger = logging.getLogger(__name__)


# A page that was gone or held no article is fetched again after this long (it may have come back).
FAILED_PAGE_RECHECK = timedelta(days=7)


def record_page_failures(
    session: Session, source_name: str, failures: Sequence[CrawledPageFailure], *, now: datetime
) -> None:
    """Remember article pages that could not be stored (one row per URL, attempts counted)."""
    if not failures:
        return
    failed_at = as_stored(now)
    with write_transaction(session):
        source = add_source_if_missing(session, source_name)
        for failure in failures:
            row = session.scalar(select(PageFailure).where(PageFailure.url == failure.url))
            if row is None:
                session.add(PageFailure(source_id=source.id, url=failure.url[:MAX_URL_LENGTH],
                                        reason=failure.reason[:MAX_ERROR_REASON_CHARS], permanent=failure.permanent,
                                        attempts=1, first_failed_at=failed_at, last_failed_at=failed_at))
            else:
                row.reason = failure.reason[:MAX_ERROR_REASON_CHARS]
                row.permanent = failure.permanent
                row.attempts += 1
                row.last_failed_at = failed_at
