"""Database URLs as shown and as completed (storage/engine.py): a password is never shown, and one kept
in the environment goes into the URL intact, whatever its characters."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from kuroshio.storage.engine import masked_url, url_password, url_with_password

PASSWORD = "pä:ss@wörd/密码%?&"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://kuroshio:s3cret@db.example:5432/kuroshio",
     "postgresql+psycopg://kuroshio:***@db.example:5432/kuroshio"),
    ("postgresql+psycopg://kuroshio@db.example/kuroshio?password=s3cret&sslmode=require",
     "postgresql+psycopg://kuroshio@db.example/kuroshio?password=***&sslmode=require"),
    # URLs SQLAlchemy cannot read (a port no number, a space in the scheme)
    ("postgresql://kuroshio:s3cret@db.example:port/kuroshio", "postgresql://kuroshio:***@db.example:port/kuroshio"),
    ("postgres ql://kuroshio:s3cret@db.example/kuroshio", "postgres ql://kuroshio:***@db.example/kuroshio"),
    ("sqlite:////var/lib/kuroshio/kuroshio.db", "sqlite:////var/lib/kuroshio/kuroshio.db"),
])
def test_a_url_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_a_password_from_the_environment_goes_into_a_url_without_one_intact() -> None:
    completed = url_with_password("postgresql+psycopg://kuroshio@db.example/kuroshio", PASSWORD)
    assert make_url(completed).password == PASSWORD
    assert PASSWORD not in masked_url(completed) and "***" in masked_url(completed)


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://kuroshio:own@db.example/kuroshio",
    "postgresql+psycopg://kuroshio@db.example/kuroshio?password=own",
    "sqlite:////var/lib/kuroshio/kuroshio.db",
])
def test_a_url_naming_its_own_password_or_a_sqlite_file_is_left_as_it_is(url: str) -> None:
    assert url_with_password(url, PASSWORD) == url


def test_url_password_reads_the_user_part_and_the_query() -> None:
    assert url_password("postgresql://u:a@h/d") == "a"
    assert url_password("postgresql://u@h/d?password=b") == "b"
    assert url_password("postgresql://u@h/d") is None
    assert url_password("postgresql://u:@h/d") is None
