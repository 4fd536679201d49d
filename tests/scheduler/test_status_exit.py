"""`kuroshio status` exits 4 when something needs attention (issue #13, item 2), so a script or a
monitoring check can alert on it: a source whose last crawl failed or that is starved, a digest whose
last attempt failed, a daemon that died, and (a daemon running) a crawl or digest overdue. Exit 0 when
all is well. The real `kuroshio` click command, on a store written by the store's own functions, with
leases dated as a daemon's would be."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from fixture_web import kuroshio_in_process
from seeded_store import SOURCES, record_run, store_config, store_session

from kuroshio.scheduler.exits import EXIT_NEEDS_ATTENTION
from kuroshio.scheduler.locks import DAEMON_LEASE, acquire
from kuroshio.storage.digests import finish_digest_attempt, start_digest_attempt
from kuroshio.storage.runs import STARVED_RUNS

DIGEST = '[smtp]\nhost = "127.0.0.1"\nsender = "k@example.org"\n\n[[digests]]\nname = "morning"\nto = ["a@example.org"]\n'


def now() -> datetime:
    return datetime.now(timezone.utc)


def crawled_lately(session, *, but: str | None = None, status: str = "failed", message: str = "HTTP 503") -> None:
    """Each source crawled ten minutes ago, fine; `but` with `status` and `message` instead."""
    for source in SOURCES:
        if source == but:
            record_run(session, source, started=now() - timedelta(minutes=10), status=status, articles_new=0,
                       message=message)
        else:
            record_run(session, source, started=now() - timedelta(minutes=10))


def status(config, *args: str):
    return kuroshio_in_process(config, "status", *args)


def test_all_well_is_exit_0_and_says_nothing_needs_attention(tmp_path, database_url):
    with store_session(database_url) as session:
        crawled_lately(session)
    result = status(store_config(tmp_path, database_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "!" not in result.stdout.replace("!  source", "")
    report = json.loads(status(store_config(tmp_path, database_url), "--format", "json").stdout)
    assert report["needs_attention"] is False


def test_a_source_whose_last_crawl_failed_is_exit_4_and_named(tmp_path, database_url):
    with store_session(database_url) as session:
        crawled_lately(session, but="kyodo")
    result = status(store_config(tmp_path, database_url))
    assert result.returncode == EXIT_NEEDS_ATTENTION
    assert "! kyodo: its last crawl failed: HTTP 503" in result.stdout.splitlines()
    [row] = [line for line in result.stdout.splitlines() if " kyodo " in line]
    assert row.startswith("!")


def test_an_interrupted_crawl_needs_no_attention(tmp_path, database_url):
    with store_session(database_url) as session:
        crawled_lately(session, but="kyodo", status="interrupted", message="stopped")
    assert status(store_config(tmp_path, database_url)).returncode == 0


def test_a_starved_source_is_exit_4(tmp_path, database_url):
    with store_session(database_url) as session:
        for hours_ago in range(STARVED_RUNS, 0, -1):
            record_run(session, "taiwan-news", started=now() - timedelta(hours=hours_ago), articles_new=0, errors=3)
    result = status(store_config(tmp_path, database_url))
    assert result.returncode == EXIT_NEEDS_ATTENTION
    assert f"! taiwan-news: no new article in the last {STARVED_RUNS} runs (each failed or had only errors)" \
        in result.stdout.splitlines()


def test_a_digest_whose_last_attempt_failed_is_exit_4(tmp_path, database_url):
    with store_session(database_url) as session:
        crawled_lately(session)
        attempt = start_digest_attempt(session, "morning", pid=None, now=now() - timedelta(minutes=5))
        finish_digest_attempt(session, attempt, status="failed", articles_count=3,
                              error="cannot reach 127.0.0.1:25: Connection refused", now=now())
    config = store_config(tmp_path, database_url, extra=DIGEST)
    result = status(config)
    assert result.returncode == EXIT_NEEDS_ATTENTION, result.stderr
    assert "! morning: its last attempt failed: cannot reach 127.0.0.1:25: Connection refused" in result.stdout
    report = json.loads(status(config, "--format", "json").stdout)
    assert report["digests"][0]["last_attempt"]["status"] == "failed"
    assert report["digests"][0]["attention"] == ["its last attempt failed: cannot reach 127.0.0.1:25: "
                                                 "Connection refused"]


def test_a_daemon_that_died_is_exit_4(tmp_path, database_url):
    with store_session(database_url) as session:
        crawled_lately(session)
        # Held by this process's pid, but not renewed for an hour: the lease of a daemon that died.
        acquire(session, DAEMON_LEASE, owner="daemon-that-died", ttl=30, now=now() - timedelta(hours=1))
    result = status(store_config(tmp_path, database_url))
    assert result.returncode == EXIT_NEEDS_ATTENTION
    assert result.stdout.startswith("daemon: not running (it died: last seen pid")
    assert result.stdout.splitlines()[-1] == "! daemon: it died without stopping cleanly; start it again"


def test_with_a_daemon_running_an_overdue_crawl_is_exit_4(tmp_path, database_url):
    """The daemon has run 3 hours; kyodo, crawled every 30 minutes (the default), last ran 2h10 ago: due
    1h40 ago, more than `daemon.misfire_grace` (1h); the others ran 10 minutes ago."""
    with store_session(database_url) as session:
        for source in SOURCES:
            record_run(session, source, started=now() - timedelta(hours=2 if source == "kyodo" else 0, minutes=10))
        acquire(session, DAEMON_LEASE, owner="running-daemon", ttl=86400, now=now() - timedelta(hours=3))
    config = store_config(tmp_path, database_url)
    report = json.loads(status(config, "--format", "json").stdout)
    result = status(config)
    assert result.returncode == EXIT_NEEDS_ATTENTION, result.stdout
    assert result.stdout.startswith("daemon: running, pid")
    assert [line for line in result.stdout.splitlines() if re.match(r"! \S", line)] == [
        "! kyodo: overdue: no crawl started for 100 min since one was due"]
    assert report["daemon"]["state"] == "running"
    assert {source["name"]: source["attention"] for source in report["sources"]} == {
        "focus-taiwan": [], "kyodo": ["overdue: no crawl started for 100 min since one was due"], "taiwan-news": []}


def test_without_a_daemon_nothing_is_overdue(tmp_path, database_url):
    with store_session(database_url) as session:
        for source in SOURCES:
            record_run(session, source, started=now() - timedelta(days=5))
    assert status(store_config(tmp_path, database_url)).returncode == 0


@pytest.mark.parametrize("internal", ["STARVED_RUNS", "kuroshio.", "starved_sources", "`"])
def test_status_help_speaks_the_users_language(internal):
    result = kuroshio_in_process(None, "status", "--help")
    assert result.returncode == 0
    assert internal not in result.stdout
    assert "Exit status: 0 when nothing needs attention, 4 when something does." in result.stdout
