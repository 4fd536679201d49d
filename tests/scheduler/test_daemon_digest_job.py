"""The daemon's digest job: a send that fails is logged as it deserves and tried again later."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
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
