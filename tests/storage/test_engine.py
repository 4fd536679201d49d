"""Database location and SQLite connection behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kuroshio.storage.articles import list_articles
from kuroshio.storage.engine import create_engine_for, default_database_url, session_factory, upgrade_schema
from kuroshio.storage.models import ArticleURL, Source
from kuroshio.storage.sources import ensure_source


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("KUROSHIO_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_default_database_is_under_local_share(clean_env: Path) -> None:
    expected = (clean_env / "home" / ".local" / "share" / "kuroshio" / "kuroshio.db").resolve()
    assert default_database_url() == f"sqlite:///{expected}"


def test_default_database_follows_xdg_data_home(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(clean_env / "xdg"))
    assert default_database_url() == f"sqlite:///{(clean_env / 'xdg' / 'kuroshio' / 'kuroshio.db').resolve()}"


def test_kuroshio_data_dir_overrides_xdg(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(clean_env / "xdg"))
    monkeypatch.setenv("KUROSHIO_DATA_DIR", str(clean_env / "data"))
    assert default_database_url() == f"sqlite:///{(clean_env / 'data' / 'kuroshio.db').resolve()}"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'folder' / 'kuroshio.db'}")
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def test_sqlite_engine_creates_folder_and_sets_pragmas(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert (tmp_path / "nested" / "folder" / "kuroshio.db").is_file()
    with sqlite_engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys")
        }
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000, "foreign_keys": 1}


def test_sqlite_enforces_foreign_keys(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session, pytest.raises(IntegrityError):
        session.add(ArticleURL(article_id=12345, url="https://news.example/orphan"))
        session.commit()


def test_sqlite_writes_begin_immediate_and_reads_deferred(sqlite_engine: Engine) -> None:
    statements: list[str] = []

    @event.listens_for(sqlite_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with session_factory(sqlite_engine)() as session:
        list_articles(session)
        ensure_source(session, "example-news")
    begins = [statement for statement in statements if statement.startswith("BEGIN")]
    assert begins == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"]


def test_objects_stay_readable_after_the_write_commits(sqlite_engine: Engine) -> None:
    with session_factory(sqlite_engine)() as session:
        source = ensure_source(session, "example-news")
        assert not session.in_transaction()
        assert source.name == "example-news"
        assert session.scalar(select(Source.id)) == source.id
