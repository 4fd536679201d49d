"""What each digest owes and has delivered, and the record of every attempt to send one.

Exactly once: an article is owed to a digest until a row in `digest_deliveries` says otherwise, and
that row is written (`mark_digest_delivered`) only after the mail server accepted the message.
Deliveries are kept by article, so re-scoring the archive (`kuroshio topics rematch`: a score changed, a
match removed and found again) never makes a delivered article owed again.

Old articles a rematch newly matched (a topic added or widened today matching an article of last
spring) are not owed: a match a rematch found (`topic_matches.rematched_at`) counts only for articles
first seen after the digest was last sent, the articles the next digest covers anyway. Such an article
seen earlier was past by then; mailing the archive's hundreds of them in one digest is not news
(`kuroshio articles list --topic NAME` lists them). A digest never sent yet owes them, as it owes
every article the archive holds.

A digest with several targets (the SMTP server, Apprise URLs) keeps exactly once per target: an article
one target accepted while another failed is in `digest_target_deliveries` for the one that accepted
(`record_delivery`), is sent next time to the others only, and joins `digest_deliveries` once every
target has it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, true
from sqlalchemy.orm import Session

from kuroshio.storage.articles import newest_first
from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    MAX_ERROR_REASON_CHARS,
    Article,
    ArticleTopic,
    DigestAttempt,
    DigestDelivery,
    DigestTargetDelivery,
    effective_date,
)
from kuroshio.storage.timestamps import as_stored, require_aware

logger = logging.getLogger(__name__)


DIGEST_FINISHED_STATUSES = ("ok", "failed", "empty", "interrupted")

# Rows per IN (...) list or multi-row INSERT: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def owed_articles(
    session: Session, *, digest: str, topics: Sequence[str] = (), since: datetime | None = None,
    seen_since: datetime | None = None,
) -> list[Article]:
    """Relevant articles not yet delivered to `digest` (by every target), newest first.

    Relevant: matched one of `topics` (any topic when empty) when crawled, or by a rematch if first
    seen after the digest was last sent (see the module's docstring). `since` (aware) keeps only
    articles dated at or after it (publication time, else first-seen time); `seen_since` only articles
    first seen at or after it (an instant digest's: what is new to the store, whatever its date).
    """
    delivered = exists().where(DigestDelivery.digest == digest, DigestDelivery.article_id == Article.id)
    match_conditions: list[ColumnElement[bool]] = [ArticleTopic.topic.in_(list(topics))] if topics else []
    last_sent_at = last_digest_sent_at(session, digest)
    if last_sent_at is not None:
        match_conditions.append(or_(ArticleTopic.rematched_at.is_(None), Article.first_seen_at >= last_sent_at))
    conditions = [Article.topic_matches.any(and_(true(), *match_conditions)), ~delivered]
    if since is not None:
        require_aware(since, "since")
        conditions.append(effective_date() >= since)
    if seen_since is not None:
        conditions.append(Article.first_seen_at >= as_stored(seen_since, "seen_since"))
    query = select(Article).where(*conditions).order_by(*newest_first())
    return list(session.scalars(query))


def delivered_article_ids(session: Session, digest: str) -> set[int]:
    """Ids of every article the mail server accepted in a digest called `digest`."""
    return set(session.scalars(select(DigestDelivery.article_id).where(DigestDelivery.digest == digest)))


def partial_deliveries(session: Session, digest: str) -> dict[str, set[int]]:
    """Per target of `digest`: the articles it accepted that another target has not yet."""
    accepted: dict[str, set[int]] = {}
    rows = session.execute(select(DigestTargetDelivery.target, DigestTargetDelivery.article_id)
                           .where(DigestTargetDelivery.digest == digest))
    for target, article_id in rows:
        accepted.setdefault(target, set()).add(article_id)
    return accepted


def record_delivery(
    session: Session,
    *,
    digest: str,
    target: str,
    targets: Sequence[str],
    article_ids: Sequence[int],
    message_id: str,
    now: datetime,
) -> int:
    """After `target` accepted `article_ids`: each article every one of `targets` (the digest's targets
    now) has accepted becomes a delivery of `digest` (`digest_deliveries`, its partial rows gone), the
    others a partial delivery to `target`; in one transaction. Returns how many became deliveries."""
    delivered_at = as_stored(now)
    others = [name for name in dict.fromkeys(targets) if name != target]
    unique_ids = list(dict.fromkeys(article_ids))
    with write_transaction(session):
        done: set[int] = set()
        held: dict[int, set[str]] = {}
        for chunk in _chunks(unique_ids):
            done.update(session.scalars(select(DigestDelivery.article_id).where(
                DigestDelivery.digest == digest, DigestDelivery.article_id.in_(chunk))))
            for name, article_id in session.execute(
                    select(DigestTargetDelivery.target, DigestTargetDelivery.article_id).where(
                        DigestTargetDelivery.digest == digest, DigestTargetDelivery.article_id.in_(chunk))):
                held.setdefault(article_id, set()).add(name)
        complete = [article_id for article_id in unique_ids
                    if article_id not in done and all(name in held.get(article_id, ()) for name in others)]
        partial = [article_id for article_id in unique_ids
                   if article_id not in done and article_id not in complete and target not in held.get(article_id, ())]
        for chunk in _chunks(complete):
            session.execute(delete(DigestTargetDelivery).where(
                DigestTargetDelivery.digest == digest, DigestTargetDelivery.article_id.in_(chunk)))
            session.execute(insert(DigestDelivery), [
                {"digest": digest, "article_id": article_id, "delivered_at": delivered_at, "message_id": message_id}
                for article_id in chunk])
        for chunk in _chunks(partial):
            session.execute(insert(DigestTargetDelivery), [
                {"digest": digest, "target": target, "article_id": article_id, "delivered_at": delivered_at,
                 "message_id": message_id} for article_id in chunk])
        return len(complete)


def settle_deliveries(session: Session, *, digest: str, targets: Sequence[str], now: datetime) -> int:
    """Articles every one of `targets` (the digest's targets now) has accepted become deliveries of
    `digest`: a target that was removed while it lacked them no longer holds them back. Returns how many."""
    names = list(dict.fromkeys(targets))
    if not names:
        return 0
    with write_transaction(session):
        held = select(DigestTargetDelivery.article_id, func.min(DigestTargetDelivery.message_id)).where(
            DigestTargetDelivery.digest == digest, DigestTargetDelivery.target.in_(names)
        ).group_by(DigestTargetDelivery.article_id).having(func.count() == len(names))
        complete = session.execute(held).all()
        delivered_at = as_stored(now)
        for chunk in _chunks(complete):
            ids = [article_id for article_id, _ in chunk]
            session.execute(delete(DigestTargetDelivery).where(
                DigestTargetDelivery.digest == digest, DigestTargetDelivery.article_id.in_(ids)))
            session.execute(insert(DigestDelivery), [
                {"digest": digest, "article_id": article_id, "delivered_at": delivered_at, "message_id": message_id}
                for article_id, message_id in chunk])
        return len(complete)


def first_digest_attempt_at(session: Session, digest: str) -> datetime | None:
    """When `digest` was first attempted: an instant digest alerts what was first seen from then on."""
    return session.scalar(select(func.min(DigestAttempt.started_at)).where(DigestAttempt.digest == digest))


def newest_article_id(session: Session) -> int | None:
    """The id of the newest stored article (an index lookup): the daemon looks for instant alerts only
    when it changed."""
    return session.scalar(select(func.max(Article.id)))


def start_digest_attempt(session: Session, digest: str, *, pid: int | None, now: datetime) -> int:
    """Record that `digest` is being sent (status 'running'); returns the attempt id.

    The caller holds the digest's lease (`kuroshio.scheduler.digests`), so an attempt of it still 'running' belongs
    to a process that died: it is marked 'interrupted' first.
    """
    started_at = as_stored(now)
    with write_transaction(session):
        running = session.scalars(
            select(DigestAttempt).where(DigestAttempt.digest == digest, DigestAttempt.status == "running")
        ).all()
        for attempt in running:
            attempt.status = "interrupted"
            attempt.finished_at = started_at
            attempt.error = f"process {attempt.pid} ended before finishing the attempt"
            logger.warning("digest attempt %d of %s was interrupted (process %s is gone)", attempt.id, digest,
                           attempt.pid)
        attempt = DigestAttempt(digest=digest, started_at=started_at, status="running", pid=pid)
        session.add(attempt)
        session.flush()
        return attempt.id


def finish_digest_attempt(
    session: Session,
    attempt_id: int,
    *,
    status: str,
    articles_count: int,
    error: str | None = None,
    message_id: str | None = None,
    now: datetime,
) -> DigestAttempt:
    """Record how attempt `attempt_id` ended without delivering anything ('failed', 'empty')."""
    if status not in DIGEST_FINISHED_STATUSES:
        raise ValueError(f"digest attempt status {status!r} is not one of {', '.join(DIGEST_FINISHED_STATUSES)}")
    with write_transaction(session):
        return _finish_attempt(session, attempt_id, status=status, articles_count=articles_count, error=error,
                               message_id=message_id, finished_at=as_stored(now))


def mark_digest_delivered(
    session: Session,
    attempt_id: int,
    *,
    article_ids: Sequence[int],
    message_id: str,
    error: str | None = None,
    now: datetime,
) -> DigestAttempt:
    """After the mail server accepted the digest: record its articles as delivered and the attempt as
    'ok', in one transaction. Articles already delivered to the digest are left as they are."""
    delivered_at = as_stored(now)
    with write_transaction(session):
        attempt = session.get(DigestAttempt, attempt_id)
        if attempt is None:
            raise LookupError(f"no digest attempt with id {attempt_id}")
        unique_ids = list(dict.fromkeys(article_ids))
        already: set[int] = set()
        for chunk in _chunks(unique_ids):
            already.update(session.scalars(select(DigestDelivery.article_id).where(
                DigestDelivery.digest == attempt.digest, DigestDelivery.article_id.in_(chunk))))
        rows = [
            {"digest": attempt.digest, "article_id": article_id, "delivered_at": delivered_at, "message_id": message_id}
            for article_id in unique_ids
            if article_id not in already
        ]
        for chunk in _chunks(rows):
            session.execute(insert(DigestDelivery), chunk)
        return _finish_attempt(session, attempt_id, status="ok", articles_count=len(unique_ids), error=error,
                               message_id=message_id, finished_at=delivered_at)


def _finish_attempt(
    session: Session, attempt_id: int, *, status: str, articles_count: int, error: str | None,
    message_id: str | None, finished_at: datetime,
) -> DigestAttempt:
    attempt = session.get(DigestAttempt, attempt_id)
    if attempt is None:
        raise LookupError(f"no digest attempt with id {attempt_id}")
    attempt.status = status
    attempt.finished_at = finished_at
    attempt.articles_count = articles_count
    attempt.error = error[:MAX_ERROR_REASON_CHARS] if error else None
    attempt.message_id = message_id
    session.flush()
    return attempt


def last_digest_sent_at(session: Session, digest: str) -> datetime | None:
    """When the last digest the server accepted was started (composed), or None if none was."""
    return session.scalar(
        select(func.max(DigestAttempt.started_at)).where(DigestAttempt.digest == digest, DigestAttempt.status == "ok")
    )


def last_digest_attempts(session: Session) -> dict[str, DigestAttempt]:
    """The most recently started attempt of each digest, by digest name (for `kuroshio status`)."""
    ranked = select(
        DigestAttempt.id,
        func.row_number()
        .over(partition_by=DigestAttempt.digest, order_by=(DigestAttempt.started_at.desc(), DigestAttempt.id.desc()))
        .label("recency"),
    ).subquery()
    attempts = session.scalars(
        select(DigestAttempt).join(ranked, ranked.c.id == DigestAttempt.id).where(ranked.c.recency == 1)
    ).all()
    return {attempt.digest: attempt for attempt in sorted(attempts, key=lambda attempt: attempt.digest)}


def list_digest_attempts(session: Session, *, digest: str | None = None, limit: int | None = 20) -> list[DigestAttempt]:
    """Digest attempts newest first, optionally of one digest only."""
    query = select(DigestAttempt).order_by(DigestAttempt.started_at.desc(), DigestAttempt.id.desc()).limit(limit)
    if digest is not None:
        query = query.where(DigestAttempt.digest == digest)
    return list(session.scalars(query))


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
