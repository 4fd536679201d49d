"""The daemon's digest job: a send that fails is logged as it deserves and tried again later."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy.exc import OperationalError

import kuroshio.scheduler.daemon
from kuroshio.scheduler.config import load_config
from kuroshio.scheduler.daemon import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    config = tmp_path / "kuroshio.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "kuroshio.db"}"\n\n'
                      '[[digests]]\nname = "morning"\nto = ["analyst@example.org"]\n', encoding="utf-8")
    return Daemon(load_config(config), log_level="INFO")


def store_full_error() -> OperationalError:
    refused = sqlite3.OperationalError("database or disk is full")
    refused.sqlite_errorname = "SQLITE_FULL"  # set by the sqlite3 module on the errors it raises
    return OperationalError("INSERT INTO digest_attempts ...", {}, refused)


def test_a_digest_the_full_store_refused_is_one_line_and_is_tried_again(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def send_into_a_full_store(*args: object, **kwargs: object) -> None:
        raise store_full_error()

    monkeypatch.setattr(kuroshio.scheduler.daemon, "send_due_digest", send_into_a_full_store)
    with caplog.at_level(logging.INFO, logger="kuroshio.scheduler.daemon"):
        daemon._send_digest("morning")

    [refused] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert refused.getMessage().startswith("digest morning not sent: cannot write to the database ")
    assert "database or disk is full" in refused.getMessage()
    assert refused.exc_info is None  # no traceback for a store that is merely full
    assert daemon.scheduler.get_job("digest-retry:morning") is not None


def test_any_other_failure_keeps_its_traceback_and_is_tried_again(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def send_with_a_bug(*args: object, **kwargs: object) -> None:
        raise KeyError("template field")

    monkeypatch.setattr(kuroshio.scheduler.daemon, "send_due_digest", send_with_a_bug)
    with caplog.at_level(logging.INFO, logger="kuroshio.scheduler.daemon"):
        daemon._send_digest("morning")

    [failed] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert failed.getMessage() == "digest morning failed" and failed.exc_info is not None
    assert daemon.scheduler.get_job("digest-retry:morning") is not None


def test_a_digest_that_ends_while_the_daemon_shuts_down_does_not_hang_it(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APScheduler's shut-down waits for running jobs holding its job-store lock; a digest job that ends
    then and removes its retry job used to wait for that lock for ever (an instant digest's look, every
    5 s, made the daemon hang on SIGTERM)."""
    entered = threading.Event()

    def send_until_shut_down_holds_the_lock(*args: object, **kwargs: object) -> SimpleNamespace:
        entered.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until `shutdown` holds the lock it waits for this job under
            if daemon.scheduler.state == STATE_STOPPED and not daemon.scheduler._jobstores_lock.acquire(blocking=False):
                break
            if daemon.scheduler.state == STATE_STOPPED:
                daemon.scheduler._jobstores_lock.release()
            time.sleep(0.01)
        return SimpleNamespace(status="sent", articles_count=1, error=None)

    monkeypatch.setattr(kuroshio.scheduler.daemon, "send_due_digest", send_until_shut_down_holds_the_lock)
    daemon.scheduler.start()
    daemon.dispatcher.start()
    daemon.scheduler.add_job(daemon._send_digest, args=["morning"], id="digest:morning")
    assert entered.wait(30), "the digest job never ran"

    daemon.stopping.set()
    shutting_down = threading.Thread(target=daemon._shut_down, daemon=True)
    shutting_down.start()
    shutting_down.join(timeout=30)
    assert not shutting_down.is_alive(), "the daemon's shut-down waits for ever for the digest job"
