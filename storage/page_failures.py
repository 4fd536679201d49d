"""Article pages that could not be stored, remembered so a crawl does not fetch a dead page again soon.

A permanent failure (gone, no article) keeps its URL out of crawls for `FAILED_PAGE_RECHECK`; a
transient one is only counted, and the next crawl tries again.

A crawl can hand over tens of thousands of failures at once, and other writers share the store
meanwhile: a concurrent crawl storing articles, lease renewals, `kuroshio status`. The failures are
therefore written `PAGE_FAILURES_PER_WRITE` at a time, each chunk one bulk upsert in a transaction of
its own (one transaction of 20,000 held SQLite's write lock 16 s, and other writers gave up with
"database is locked"). On SQLite the recorder then pauses as long as the chunk held the lock: a
waiting writer is not queued but polls on its busy timeout, and would rarely find the lock free in
the instant between two chunks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
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

# Failures written per transaction: an upsert of this many takes about 10 ms (SQLite) to 20 ms (PostgreSQL).
PAGE_FAILURES_PER_WRITE = 500

# INSERT ... ON CONFLICT is dialect-specific in SQLAlchemy; the store runs on these two.
_UPSERT_INSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True, slots=True)
class _Attempts:
    """A URL's failures within one call: how many, and the last (whose reason and permanence win)."""

    count: int
    last: CrawledPageFailure


def record_page_failures(
    session: Session, source_name: str, failures: Sequence[CrawledPageFailure], *, now: datetime
) -> None:
    """Remember article pages that could not be stored (one row per URL, attempts counted).

    Each failure is an attempt: a URL failing twice in `failures` counts two, and keeps the reason and
    permanence of the last; a URL recorded before keeps its first failure time. Written in transactions
    of at most `PAGE_FAILURES_PER_WRITE` URLs: if one raises, the ones before it stay recorded.
    """
    if not failures:
        return
    attempts = _attempts_by_url(failures)
    # In URL order, so that two recorders on PostgreSQL lock shared rows in the same order, never in a cycle.
    urls = sorted(attempts)
    failed_at = as_stored(now)
    dialect = session.get_bind().dialect.name
    upsert = _upsert(dialect)
    for start in range(0, len(urls), PAGE_FAILURES_PER_WRITE):
        with write_transaction(session):
            began = time.monotonic()  # the write lock is ours from here
            source_id = add_source_if_missing(session, source_name).id
            session.execute(upsert, [
                {"source_id": source_id, "url": url, "reason": attempts[url].last.reason[:MAX_ERROR_REASON_CHARS],
                 "permanent": attempts[url].last.permanent, "attempts": attempts[url].count,
                 "first_failed_at": failed_at, "last_failed_at": failed_at}
                for url in urls[start:start + PAGE_FAILURES_PER_WRITE]
            ])
        if dialect == "sqlite" and start + PAGE_FAILURES_PER_WRITE < len(urls):
            time.sleep(time.monotonic() - began)  # the write lock is free for as long as we held it


def _attempts_by_url(failures: Sequence[CrawledPageFailure]) -> dict[str, _Attempts]:
    """The failures by the URL they are stored under, so that a chunk names each row once: SQLAlchemy
    may send it as one multi-row INSERT ("insertmanyvalues"), which PostgreSQL refuses when its ON
    CONFLICT meets a row twice."""
    attempts: dict[str, _Attempts] = {}
    for failure in failures:
        url = failure.url[:MAX_URL_LENGTH]
        earlier = attempts.get(url)
        attempts[url] = _Attempts(count=earlier.count + 1 if earlier else 1, last=failure)
    return attempts


def _upsert(dialect: str) -> Any:
    """INSERT a page failure per parameter set; a URL already recorded gets the new reason, permanence
    and time, and its attempts added, keeping its first failure time and its source."""
    insert = _UPSERT_INSERTS[dialect](PageFailure)
    return insert.on_conflict_do_update(
        index_elements=[PageFailure.url],
        set_={
            "reason": insert.excluded.reason,
            "permanent": insert.excluded.permanent,
            "attempts": PageFailure.attempts + insert.excluded.attempts,
            "last_failed_at": insert.excluded.last_failed_at,
        },
    )
