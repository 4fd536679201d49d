"""Crawl run records: one row per source per crawl, written `running` at the start and finished with
its counts, so a killed crawl leaves a visible row for the next start to mark interrupted.

Silent sources: `starved_sources` names the sources whose last `STARVED_RUNS` finished runs each
failed, or stored no new article while something went wrong (see its docstring); `kuroshio status`
flags them. Each write function is one transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kuroshio.storage.engine import write_transaction
from kuroshio.storage.models import (
    MAX_ERROR_REASON_CHARS,
    CrawlRun,
    Source,
)
from kuroshio.storage.sources import add_source_if_missing
from kuroshio.storage.timestamps import as_stored, require_aware

logger = logging.getLogger(__name__)


FINISHED_STATUSES = ("ok", "failed", "interrupted")


MAX_RECORDED_ERRORS = 100

# How many consecutive unproductive runs make a source worth flagging (`starved_sources`).
STARVED_RUNS = 3


def start_run(
    session: Session, source_name: str, *, pid: int | None = None, host: str | None = None,
    node: str | None = None, job: str | None = None, now: datetime,
) -> int:
    """Record that a crawl of `source_name` started (status 'running'); returns the run id. `pid` runs on
    `host`; a crawl run as a Scrapyd job names its `node` (URL) and `job` id."""
    with write_transaction(session):
        run = CrawlRun(
            source=add_source_if_missing(session, source_name),
            started_at=as_stored(now),
            status="running",
            pid=pid,
            host=host,
            node=node,
            job=job,
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    pages_fetched: int,
    articles_new: int,
    articles_relevant: int,
    duplicates_skipped: int,
    errors: Sequence[dict[str, Any]],
    errors_count: int | None = None,
    message: str | None = None,
    not_modified: int = 0,
    now: datetime,
) -> None:
    """Record how run `run_id` ended. `errors` are {"url", "reason"} dicts: the first `MAX_RECORDED_ERRORS`
    are kept; `errors_count` is how many there were in all (default: all are in `errors`), since a crawl
    itself keeps only its first few hundred. `not_modified`: discovery documents that answered 304."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"run status {status!r} is not one of {', '.join(FINISHED_STATUSES)}")
    with write_transaction(session):
        run = session.scalar(select(CrawlRun).where(CrawlRun.id == run_id).with_for_update())
        if run is None:
            raise LookupError(f"no crawl run with id {run_id}")
        if run.status == "running":
            run.status = status
            run.finished_at = as_stored(now)
            run.message = message
        else:  # ended by another process (`end_run`: the daemon timed the crawl out): that end stands
            logger.info("crawl run %d of %s was already ended as %s (%s); its counts are added", run.id,
                        run.source.name, run.status, run.message)
        run.pages_fetched = pages_fetched
        run.articles_new = articles_new
        run.articles_relevant = articles_relevant
        run.duplicates_skipped = duplicates_skipped
        run.not_modified = not_modified
        run.errors_count = max(len(errors), errors_count or 0)
        run.errors = [_error_record(error) for error in errors[:MAX_RECORDED_ERRORS]]


def _error_record(error: dict[str, Any]) -> dict[str, str | None]:
    url = error.get("url")
    return {"url": str(url) if url else None, "reason": str(error.get("reason", ""))[:MAX_ERROR_REASON_CHARS]}


def end_run(session: Session, run_id: int, *, status: str, message: str, now: datetime) -> bool:
    """End run `run_id` as `status` with `message` for the process that crawls it — the daemon, once it
    has cancelled the Scrapyd job of a crawl that outlived its time limit — unless it has ended already;
    whether it did. The crawl's own `finish_run`, if it still comes, adds its counts and keeps this end."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"run status {status!r} is not one of {', '.join(FINISHED_STATUSES)}")
    with write_transaction(session):
        run = session.scalar(select(CrawlRun).where(CrawlRun.id == run_id).with_for_update())
        if run is None or run.status != "running":
            return False
        run.status = status
        run.finished_at = as_stored(now)
        run.message = message
        logger.warning("crawl run %d of %s ended as %s: %s", run.id, run.source.name, status, message)
        return True


def mark_interrupted_runs(
    session: Session, *, alive: Callable[[int, str | None], bool], now: datetime
) -> int:
    """Mark 'interrupted' every 'running' run whose process is gone (`alive(pid, host)` is False; the host
    is None for a run recorded before runs named theirs); returns how many.

    Runs without a pid are left alone: nothing tells whether they are still going.
    """
    finished_at = as_stored(now)
    with write_transaction(session):
        running = session.scalars(
            # Locked: a crawl finishing one of them meanwhile is seen finished, or records its end after this.
            select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.pid.is_not(None)).with_for_update()
        ).all()
        orphaned = [run for run in running if run.pid is not None and not alive(run.pid, run.host)]
        for run in orphaned:
            where = f" on {run.node}" if run.node else ""  # a Scrapyd job's
            run.status = "interrupted"
            run.finished_at = finished_at
            run.message = f"process {run.pid}{where} ended before finishing the run"
            logger.warning(
                "crawl run %d of %s was interrupted (pid %d%s is gone)", run.id, run.source.name, run.pid, where
            )
        return len(orphaned)


def end_runs_of_process(
    session: Session, pid: int, *, status: str, message: str, now: datetime
) -> int:
    """Finish the runs a crawl process left 'running' (it was killed, or died); returns how many."""
    finished_at = as_stored(now)
    with write_transaction(session):
        open_runs = session.scalars(select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.pid == pid)).all()
        for run in open_runs:
            run.status = status
            run.finished_at = finished_at
            run.message = message
            logger.warning("crawl run %d of %s ended as %s: %s", run.id, run.source.name, status, message)
        return len(open_runs)


def run_of_job(session: Session, job: str) -> CrawlRun | None:
    """The run Scrapyd job `job` recorded, or None (it has not started one, or refused to)."""
    return session.scalars(select(CrawlRun).where(CrawlRun.job == job)).first()


def last_runs(session: Session) -> dict[str, CrawlRun]:
    """The most recently started run of each source, by source name."""
    ranked = select(
        CrawlRun.id,
        func.row_number()
        .over(partition_by=CrawlRun.source_id, order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
        .label("recency"),
    ).subquery()
    runs = session.scalars(
        select(CrawlRun).join(ranked, ranked.c.id == CrawlRun.id).where(ranked.c.recency == 1)
    ).all()
    return {run.source.name: run for run in sorted(runs, key=lambda run: run.source.name)}


def list_runs(session: Session, *, source: str | None = None, limit: int | None = 20) -> list[CrawlRun]:
    """Runs newest first, optionally of one source only."""
    query = select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()).limit(limit)
    if source is not None:
        query = query.where(CrawlRun.source.has(Source.name == source))
    return list(session.scalars(query))


def starved_sources(session: Session, *, runs: int = STARVED_RUNS) -> list[str]:
    """Sources whose last `runs` finished runs each came to nothing: the run failed, or it stored no new
    article and recorded errors (every link it found failed: no content, gone, too large...).

    Only 'ok' and 'failed' runs count; an interrupted run says nothing about the source and is skipped.
    A quiet run — no new article and no error — breaks the streak: a source with nothing new to say is
    not broken. A source with fewer than `runs` finished runs is not flagged yet.
    """
    ranked = select(
        CrawlRun.id,
        func.row_number()
        .over(partition_by=CrawlRun.source_id, order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()))
        .label("recency"),
    ).where(CrawlRun.status.in_(("ok", "failed"))).subquery()
    recent = session.scalars(
        select(CrawlRun).join(ranked, ranked.c.id == CrawlRun.id).where(ranked.c.recency <= runs)
    ).all()
    runs_by_source: dict[str, list[CrawlRun]] = {}
    for run in recent:
        runs_by_source.setdefault(run.source.name, []).append(run)
    return sorted(
        name for name, source_runs in runs_by_source.items()
        if len(source_runs) == runs and all(_unproductive(run) for run in source_runs)
    )


def _unproductive(run: CrawlRun) -> bool:
    return run.status == "failed" or (run.articles_new == 0 and run.errors_count > 0)


def runs_started_since(session: Session, since: datetime | None) -> list[CrawlRun]:
    """Crawl runs started at or after `since` (every run when None), oldest first."""
    query = select(CrawlRun).order_by(CrawlRun.started_at, CrawlRun.id)
    if since is not None:
        require_aware(since, "since")
        query = query.where(CrawlRun.started_at >= since)
    return list(session.scalars(query))


def run_record(run: CrawlRun, *, with_errors: bool = False) -> dict[str, Any]:
    """`run` as a JSON-ready dict, times in UTC (ISO 8601). `errors_count` is how many errors the run had;
    `with_errors` adds the recorded ones (the first `MAX_RECORDED_ERRORS`), each {"url", "reason"}."""
    finished = run.finished_at
    record: dict[str, Any] = {
        "id": run.id,
        "source": run.source.name,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": finished.isoformat() if finished else None,
        "duration_seconds": round((finished - run.started_at).total_seconds(), 3) if finished else None,
        "pages_fetched": run.pages_fetched,
        "not_modified": run.not_modified,
        "articles_new": run.articles_new,
        "articles_relevant": run.articles_relevant,
        "duplicates_skipped": run.duplicates_skipped,
        "errors_count": run.errors_count,
        "message": run.message,
        "host": run.host,
        "node": run.node,
    }
    if with_errors:
        record["errors"] = [{"url": error.get("url"), "reason": error.get("reason", "")} for error in run.errors]
    return record


def get_run(session: Session, run_id: int) -> CrawlRun | None:
    """The run with id `run_id`, or None."""
    return session.get(CrawlRun, run_id)
