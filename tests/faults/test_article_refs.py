"""Bad arguments (issue #16, item 7): `kuroshio articles show REF` with a REF that is neither an id nor a
usable URL — a digit `int()` does not read (`²`), a number past any id (20 digits: an SQL error on both
databases), a broken URL (`http://[::1`), bytes that are not UTF-8 — is one line and exit 2, or "no
article" and exit 1; never a traceback or SQL text. On SQLite and PostgreSQL, each holding the articles
of a real crawl.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import BACKENDS, POSTGRES_URL, reset_postgres_schema
from fixture_web import KUROSHIO, write_config
from hostile_crawl import CRAWL_TIMEOUT, HOSTILE, crawl_measured

from kuroshio.fixtures.server import FixtureWeb

pytestmark = pytest.mark.faults

CASE = HOSTILE / "bad-links"
SOURCE = ('[[sources]]\nname = "badlinks"\nfeeds = ["http://badlinks.news.test/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
EXIT_BAD_ARGUMENT = 2
EXIT_NOT_FOUND = 1
# REF → the exit status it must end with.
BAD_REFS: dict[str | bytes, int] = {
    "²": EXIT_BAD_ARGUMENT,  # str.isdigit() is true of it, int() refuses it
    "99999999999999999999": EXIT_NOT_FOUND,  # past SQLite's and PostgreSQL's integers
    "4294967296": EXIT_NOT_FOUND,  # past PostgreSQL's INTEGER id column
    "http://[::1": EXIT_BAD_ARGUMENT,
    "http://badlinks.news.test:99999/news/feed-1": EXIT_BAD_ARGUMENT,
    b"\xff\xfe/news": EXIT_BAD_ARGUMENT,  # not UTF-8: Python hands it on as lone surrogates
}
# What a traceback or a database error would leave in the output.
LEAKS = ("Traceback", "Error:", "SELECT", "sqlalchemy", "psycopg", "sqlite3", "OverflowError", "ValueError")


@pytest.fixture(scope="module", params=BACKENDS)
def crawled_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config on a store (SQLite or PostgreSQL) holding the articles of a real crawl."""
    folder = tmp_path_factory.mktemp(f"article-refs-{request.param}")
    if request.param == "postgres":
        reset_postgres_schema(POSTGRES_URL)
        database_url = POSTGRES_URL
    else:
        database_url = f"sqlite:///{folder / 'kuroshio.db'}"
    with FixtureWeb(roots=[CASE]) as web:
        config = write_config(folder / "kuroshio.toml", database_url=database_url, proxy=web.proxy_url, sources=SOURCE)
        config.chmod(0o600)  # it may hold the database password
        crawl = crawl_measured(config)
        assert crawl.returncode == 0, crawl.stderr
    yield config


def show(config: Path, ref: str | bytes) -> subprocess.CompletedProcess[bytes]:
    """The real `kuroshio articles show REF`, its argument passed as given (bytes are not re-encoded)."""
    return subprocess.run([os.fsencode(KUROSHIO), b"--config", os.fsencode(config), b"articles", b"show",
                           ref if isinstance(ref, bytes) else ref.encode()],
                          capture_output=True, timeout=CRAWL_TIMEOUT, check=False)


def test_an_article_is_shown_by_id_and_by_url(crawled_store):
    """The store is real: the refs below fail for what they are, not for an empty store."""
    by_id = show(crawled_store, "1")
    assert by_id.returncode == 0, by_id.stderr
    by_url = show(crawled_store, json.loads(show_json(crawled_store, "1"))["url"])
    assert by_url.returncode == 0, by_url.stderr


def show_json(config: Path, ref: str) -> str:
    result = subprocess.run([str(KUROSHIO), "--config", str(config), "articles", "show", "--format", "json", ref],
                            capture_output=True, text=True, timeout=CRAWL_TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("ref", list(BAD_REFS), ids=repr)
def test_a_bad_ref_is_one_line_and_its_exit_status(crawled_store, ref):
    result = show(crawled_store, ref)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == BAD_REFS[ref], stderr
    assert result.stdout == b""
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("kuroshio: "), stderr
    assert not [leak for leak in LEAKS if leak in stderr], stderr
