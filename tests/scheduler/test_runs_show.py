"""`kuroshio runs show ID` lists a run's errors (issue #13, item 2), and `runs` reads as JSON and says
when it was cut. The real `kuroshio` click command, on runs recorded by the store's own functions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fixture_web import kuroshio_in_process
from seeded_store import START, record_run, store_config, store_session

from kuroshio.storage.runs import MAX_RECORDED_ERRORS

RUN_KEYS = {"id", "source", "status", "started_at", "finished_at", "duration_seconds", "pages_fetched",
            "not_modified", "articles_new", "articles_relevant", "duplicates_skipped", "errors_count", "message",
            "host", "node"}


@pytest.fixture()
def history(tmp_path, database_url):
    """A config on a store holding a quiet run of kyodo and a failed focus-taiwan run with 400 errors, of
    which 150 were handed to the store (it keeps `MAX_RECORDED_ERRORS`)."""
    with store_session(database_url) as session:
        quiet = record_run(session, "kyodo", started=START)
        failed = record_run(session, "focus-taiwan", started=START + timedelta(hours=1), status="failed",
                            articles_new=0, errors=150, errors_count=400, message="every page failed")
    return store_config(tmp_path, database_url), quiet, failed


def test_runs_show_lists_every_kept_error_and_counts_the_rest(history):
    config, _, failed = history
    shown = kuroshio_in_process(config, "runs", "show", str(failed))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:6] == [
        f"run {failed}: focus-taiwan, failed",
        "started:  2025-12-01T01:00:00+00:00",
        "finished: 2025-12-01T01:01:00+00:00 (took 60.0s)",
        "pages:    150 fetched, 0 unchanged (HTTP 304)",
        "articles: 0 new, 0 relevant, 0 duplicates skipped",
        "message:  every page failed",
    ]
    assert lines[6] == f"errors:   400 (the first {MAX_RECORDED_ERRORS} listed)"
    assert lines[7:-1] == [f"  http://focus-taiwan.test/{n}: HTTP 404 ({n})" for n in range(MAX_RECORDED_ERRORS)]
    assert lines[-1] == f"  ... and {400 - MAX_RECORDED_ERRORS} more, not kept"


def test_runs_show_as_json_has_the_run_record_and_its_errors(history):
    config, quiet, failed = history
    record = json.loads(kuroshio_in_process(config, "runs", "show", str(failed), "--format", "json").stdout)
    assert set(record) == RUN_KEYS | {"errors"}
    assert (record["errors_count"], len(record["errors"])) == (400, MAX_RECORDED_ERRORS)
    assert record["errors"][0] == {"url": "http://focus-taiwan.test/0", "reason": "HTTP 404 (0)"}
    quiet_record = json.loads(kuroshio_in_process(config, "runs", "show", str(quiet), "--format", "json").stdout)
    assert (quiet_record["errors_count"], quiet_record["errors"]) == (0, [])
    assert kuroshio_in_process(config, "runs", "show", str(quiet)).stdout.splitlines()[-1] == "errors:   none"


def test_runs_show_of_no_such_run_is_exit_1_and_of_no_number_exit_2(history):
    config, _, _ = history
    missing = kuroshio_in_process(config, "runs", "show", "999")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "kuroshio: no crawl run with id 999\n")
    for bad in ("abc", "0", str(2**40)):
        assert kuroshio_in_process(config, "runs", "show", bad).returncode == 2, bad


def test_runs_as_json_newest_first(history):
    config, quiet, failed = history
    result = kuroshio_in_process(config, "runs", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [record["id"] for record in records] == [failed, quiet]
    assert all(set(record) == RUN_KEYS for record in records)
    assert records[0]["errors_count"] == 400 and records[1]["duration_seconds"] == 60.0
    only = json.loads(kuroshio_in_process(config, "runs", "--source", "kyodo", "--format", "json").stdout)
    assert [record["id"] for record in only] == [quiet]


def test_runs_cut_by_limit_says_so(history):
    config, quiet, failed = history
    cut = kuroshio_in_process(config, "runs", "--limit", "1", "--format", "json")
    assert [record["id"] for record in json.loads(cut.stdout)] == [failed]
    assert cut.stderr == "kuroshio: showing 1 runs (more exist); --limit all for every one\n"
    every = kuroshio_in_process(config, "runs", "--limit", "all")
    assert every.stderr == "" and len(every.stdout.splitlines()) == 2 + 2
