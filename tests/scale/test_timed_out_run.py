"""A run the daemon ended for a Scrapyd job it timed out (`kuroshio.storage.runs.end_run`) keeps that end when
the job's own finish still comes, after it: `kuroshio runs` said "failed, timed out" at once, and says so
afterwards, with the crawl's counts added."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import CrawlRun
from kuroshio.storage.runs import end_run, finish_run, start_run

STARTED = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def test_a_timed_out_run_keeps_its_end_and_gains_the_late_finishs_counts(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kuroshio.db'}")
    upgrade_schema(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        run_id = start_run(session, "site-slow", pid=4321, host="node1", node="http://node1:6800", job="j1",
                           now=STARTED)
        timed_out = STARTED + timedelta(minutes=20)
        assert end_run(session, run_id, status="failed", message="timed out after 1200 s", now=timed_out)
        assert not end_run(session, run_id, status="interrupted", message="again", now=timed_out)  # ended once
        finish_run(session, run_id, status="interrupted", pages_fetched=7, articles_new=2, articles_relevant=1,
                   duplicates_skipped=0, errors=[], message="interrupted (cancelled): stopped after the pages in "
                   "flight", now=timed_out + timedelta(seconds=5))
    with sessions() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        assert (run.status, run.message, run.finished_at) == ("failed", "timed out after 1200 s", timed_out)
        assert (run.pages_fetched, run.articles_new, run.articles_relevant) == (7, 2, 1)
    engine.dispose()
