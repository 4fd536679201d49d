"""The validators of discovery documents (feeds, sitemaps, listing pages, robots.txt), kept per URL so
that the next crawl asks for each document conditionally (`kuroshio.crawler.middlewares.conditional`).

A document's row holds the ETag and Last-Modified of its last 200 answer, as the server sent them,
the status of its last answer (200, or 304 Not Modified) and since when it has answered so: an answer
that changes none of this writes nothing, so a poll that finds every document unchanged writes no row. A document that names
other documents — robots.txt, a sitemap index — also keeps its body (at most `MAX_KEPT_DOCUMENT_BYTES`):
a 304 for it must still lead the crawl to the documents it names, which may have changed.

The crawl decides what is recorded: only the answers of documents whose work it finished (every link
followed, nothing left by an error or the page cap), so a document answering 304 next time never
hides a link the crawl did not get to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import MAX_KEPT_DOCUMENT_BYTES, MAX_URL_LENGTH, MAX_VALIDATOR_CHARS, DocumentValidators
from kuroshio.storage.timestamps import as_stored

NOT_MODIFIED = 304

# INSERT ... ON CONFLICT is dialect-specific in SQLAlchemy; the store runs on these two.
_UPSERT_INSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True, slots=True)
class DocumentAnswer:
    """How a discovery document answered: 200 with its validators (and its body, when it names other
    documents), or 304 Not Modified."""

    url: str
    status: int
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredValidators:
    """What the store kept of a document's last 200 answer."""

    etag: str | None
    last_modified: str | None
    body: bytes | None


def usable_validator(value: str | None) -> str | None:
    """`value` when it can be kept and sent back (not empty, at most `MAX_VALIDATOR_CHARS`), else None."""
    return value if value and len(value) <= MAX_VALIDATOR_CHARS else None


def keepable_body(body: bytes) -> bool:
    """Whether a document that names others is small enough to keep (`MAX_KEPT_DOCUMENT_BYTES`)."""
    return len(body) <= MAX_KEPT_DOCUMENT_BYTES


def stored_validators(session: Session, url: str) -> StoredValidators | None:
    """The validators kept for the document at `url`, or None when it has none to send."""
    row = session.scalars(select(DocumentValidators).where(DocumentValidators.url == url)).one_or_none()
    if row is None or not (row.etag or row.last_modified):
        return None
    return StoredValidators(etag=row.etag, last_modified=row.last_modified, body=row.body)


def record_document_answers(session: Session, answers: Sequence[DocumentAnswer], *, now: datetime) -> None:
    """Remember how each document answered, in one transaction: a 200 replaces the URL's validators
    and body; a 304 keeps them and records only its status and time. A document that answered as its
    row already says (304 again, or a 200 with the same validators and body) is not written."""
    checked_at = as_stored(now)
    by_url = {answer.url: answer for answer in answers if len(answer.url) <= MAX_URL_LENGTH}  # the last one wins
    rows = [{"url": answer.url, "etag": usable_validator(answer.etag),
             "last_modified": usable_validator(answer.last_modified), "last_status": answer.status,
             "checked_at": checked_at, "body": answer.body if answer.body and keepable_body(answer.body) else None}
            for answer in by_url.values()]
    rows = _changed(session, rows)
    if not rows:
        return
    insert = _UPSERT_INSERTS[session.get_bind().dialect.name](DocumentValidators)
    replace_all = insert.on_conflict_do_update(index_elements=[DocumentValidators.url], set_={
        column: insert.excluded[column] for column in ("etag", "last_modified", "last_status", "checked_at", "body")})
    keep_validators = insert.on_conflict_do_update(index_elements=[DocumentValidators.url], set_={
        column: insert.excluded[column] for column in ("last_status", "checked_at")})
    with write_transaction(session):
        if fresh := [row for row in rows if row["last_status"] != NOT_MODIFIED]:
            session.execute(replace_all, fresh)
        if unchanged := [row for row in rows if row["last_status"] == NOT_MODIFIED]:
            session.execute(keep_validators, unchanged)


def _changed(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that would change what is stored: a URL not kept yet, a new status, or a 200 with new
    validators or body (a 304 writes no validators or body, so only its status can be new)."""
    if not rows:
        return []
    kept = {stored.url: stored for stored in session.execute(
        select(DocumentValidators.url, DocumentValidators.etag, DocumentValidators.last_modified,
               DocumentValidators.last_status, DocumentValidators.body)
        .where(DocumentValidators.url.in_([row["url"] for row in rows])))}
    return [row for row in rows if (stored := kept.get(row["url"])) is None or stored.last_status != row["last_status"]
            or row["last_status"] != NOT_MODIFIED
            and (stored.etag, stored.last_modified, stored.body) != (row["etag"], row["last_modified"], row["body"])]
