"""Crawl run records and the sources they belong to."""


from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session
from storage_support import TAIPEI, UTC, count_rows

from kuroshio.storage import models
from kuroshio.storage.models import CrawlRun, Source
from kuroshio.storage.runs import (
    MAX_RECORDED_ERRORS,
    finish_run,
    last_runs,
    list_runs,
    mark_interrupted_runs,
    start_run,
)
from kuroshio.storage.sources import ensure_source

# --- crawl runs ----------------------------------------------------------------------------------


def test_run_lifecycle(session: Session) -> None:
    started = datetime(2025, 1, 1, 8, 0, tzinfo=TAIPEI)
    run_id = start_run(session, "example-news", pid=4321, now=started)
    run = session.get(CrawlRun, run_id)
    assert run is not None
    assert (run.status, run.pid, run.started_at, run.finished_at) == ("running", 4321, started, None)

    errors = [{"url": f"https://news.example/{n}", "reason": "HTTP 500" * 200} for n in range(MAX_RECORDED_ERRORS + 20)]
    finish_run(
        session,
        run_id,
        status="ok",
        pages_fetched=140,
        articles_new=12,
        articles_relevant=3,
        duplicates_skipped=5,
        errors=errors,
        message="done",
        now=started + timedelta(minutes=5),
    )
    session.expunge_all()
    run = session.get(CrawlRun, run_id)
    assert run is not None
    assert (run.status, run.pages_fetched, run.articles_new, run.articles_relevant, run.duplicates_skipped) == (
        "ok", 140, 12, 3, 5
    )
    assert run.finished_at == started + timedelta(minutes=5)
    assert run.errors_count == MAX_RECORDED_ERRORS + 20
    assert len(run.errors) == MAX_RECORDED_ERRORS
    assert run.errors[0]["url"] == "https://news.example/0"
    assert len(run.errors[0]["reason"]) == models.MAX_ERROR_REASON_CHARS
    assert run.message == "done"


def test_finish_run_rejects_unknown_status_and_run(session: Session) -> None:
    run_id = start_run(session, "example-news", now=datetime.now(timezone.utc))
    counts = dict(pages_fetched=0, articles_new=0, articles_relevant=0, duplicates_skipped=0, errors=[],
                  now=datetime.now(timezone.utc))
    with pytest.raises(ValueError, match="running"):
        finish_run(session, run_id, status="running", **counts)
    with pytest.raises(LookupError):
        finish_run(session, run_id + 1000, status="ok", **counts)


def test_mark_interrupted_runs_only_touches_running_runs_of_dead_processes(session: Session) -> None:
    dead_running = start_run(session, "a", pid=111, now=datetime.now(timezone.utc))
    alive_running = start_run(session, "b", pid=222, now=datetime.now(timezone.utc))
    unknown_pid = start_run(session, "c", now=datetime.now(timezone.utc))
    dead_finished = start_run(session, "d", pid=111, now=datetime.now(timezone.utc))
    finish_run(session, dead_finished, status="ok", pages_fetched=1, articles_new=0, articles_relevant=0,
               duplicates_skipped=0, errors=[], now=datetime.now(timezone.utc))
    asked: list[int] = []

    def alive(pid: int, host: str | None) -> bool:
        asked.append(pid)
        return pid == 222

    marked = mark_interrupted_runs(session, alive=alive, now=datetime(2025, 1, 1, tzinfo=UTC))

    assert marked == 1
    assert sorted(asked) == [111, 222]
    runs = [session.get(CrawlRun, run_id) for run_id in (dead_running, alive_running, unknown_pid, dead_finished)]
    statuses = [run.status for run in runs if run is not None]
    assert statuses == ["interrupted", "running", "running", "ok"]
    interrupted = session.get(CrawlRun, dead_running)
    assert interrupted.finished_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert "111" in (interrupted.message or "")
    assert mark_interrupted_runs(session, alive=alive, now=datetime.now(timezone.utc)) == 0


def test_last_runs_and_list_runs(session: Session) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    a_old = start_run(session, "a", now=base)
    b_only = start_run(session, "b", now=base + timedelta(hours=1))
    a_new = start_run(session, "a", now=base + timedelta(hours=2))
    ensure_source(session, "never-crawled")

    latest = last_runs(session)
    assert {name: run.id for name, run in latest.items()} == {"a": a_new, "b": b_only}
    assert [run.id for run in list_runs(session)] == [a_new, b_only, a_old]
    assert [run.id for run in list_runs(session, source="a")] == [a_new, a_old]
    assert [run.id for run in list_runs(session, limit=1)] == [a_new]


def test_ensure_source_is_idempotent(session: Session) -> None:
    first = ensure_source(session, "example-news")
    assert ensure_source(session, "example-news").id == first.id
    assert count_rows(session, Source) == 1


