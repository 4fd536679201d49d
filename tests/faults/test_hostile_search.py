"""Hostile searches (issue #16, item 7; issue #11, item 4): `kuroshio articles search` with a query of a
thousand different CJK words, the same word sixteen thousand times, bytes that are not UTF-8, a broken
query, or nesting past any use, is one line and exit 2 — never a traceback or SQL text — or an answer
in well under a second; a query in several arguments is one query. The real command, in a process of
its own, on SQLite and PostgreSQL stores holding Chinese, Japanese and English articles.

Before this change a thousand CJK words ended in a traceback quoting the SQL, `a` sixteen thousand
times took 105 s, a quote or NOT was a plain word and two arguments were a usage error.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from databases import BACKENDS, POSTGRES_URL, reset_postgres_schema
from fixture_web import KUROSHIO

from kuroshio.storage.articles import ArticleToStore, store_articles
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.records import ExtractedArticle

pytestmark = pytest.mark.faults

EXIT_BAD_QUERY = 2
SEARCH_TIMEOUT = 60  # seconds for the whole command; the old code took 105 s on `a` x 16,000
# What a traceback or a database error would leave in the output.
LEAKS = ("Traceback", "Error:", "SELECT", "MATCH", "sqlalchemy", "psycopg", "sqlite3", "RecursionError")
STORIES = [
    ("日本のTSMC工場が稼働", "熊本県菊陽町で半導体の量産が始まった。台湾人観光客も増えている。"),
    ("半導體產業", "台積電在熊本縣設廠，日台合作持續深化。"),
    ("TSMC opens Kumamoto plant", "The Taiwan Semiconductor Manufacturing Co. plant in Kumamoto opened."),
    ("朝日台の祭り", "朝日台で祭りが開かれた。"),
]
CJK_WORDS = [chr(0x4E00 + 2 * n) + chr(0x4E01 + 2 * n) for n in range(1000)]


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config on a store (SQLite or PostgreSQL) holding the stories, and a hundred more to search."""
    folder = tmp_path_factory.mktemp(f"hostile-search-{request.param}")
    if request.param == "postgres":
        reset_postgres_schema(POSTGRES_URL)
        database_url = POSTGRES_URL
    else:
        database_url = f"sqlite:///{folder / 'kuroshio.db'}"
    engine = create_engine_for(database_url)
    try:
        upgrade_schema(engine)
        published = datetime(2026, 1, 1, tzinfo=timezone.utc)
        stories = STORIES + [(f"Brief {n}", f"{' '.join(CJK_WORDS[n::100])} a b c {n}") for n in range(100)]
        batch = [
            ArticleToStore(ExtractedArticle(url=f"https://wire.test/{n}", canonical_url=f"https://wire.test/{n}",
                                            source="wire", title=title, text=text,
                                            published_at=published + timedelta(hours=n)))
            for n, (title, text) in enumerate(stories)
        ]
        with session_factory(engine)() as session:
            store_articles(session, batch, crawl_run_id=None, now=published)
    finally:
        engine.dispose()
    config = folder / "kuroshio.toml"
    config.write_text(f'[storage]\nurl = "{database_url}"\n', encoding="utf-8")
    config.chmod(0o600)  # it may hold the database password
    yield config


def search(config: Path, *words: str | bytes) -> tuple[subprocess.CompletedProcess[str], float]:
    """The real `kuroshio articles search WORDS... --format csv`, bytes passed as given; and its duration."""
    arguments = [os.fsencode(KUROSHIO), b"--config", os.fsencode(config), b"articles", b"search", b"--format", b"csv",
                 *(word if isinstance(word, bytes) else word.encode() for word in words)]
    started = time.perf_counter()
    result = subprocess.run(arguments, capture_output=True, timeout=SEARCH_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    decoded = subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
    return decoded, elapsed


def titles(result: subprocess.CompletedProcess[str]) -> set[str]:
    assert result.returncode == 0, result.stderr
    return {line.split(",")[3] for line in result.stdout.splitlines()[1:]}


def assert_refused(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == EXIT_BAD_QUERY, result.stderr
    assert result.stderr.startswith("kuroshio: bad search query: ")
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not any(leak in result.stderr for leak in LEAKS), result.stderr
    assert result.stdout == ""


def test_mixed_script_and_variant_searches_find_what_the_filter_finds(store: Path) -> None:
    assert titles(search(store, "TSMC")[0]) == {"日本のTSMC工場が稼働", "TSMC opens Kumamoto plant"}
    assert titles(search(store, "ＴＳＭＣ")[0]) == {"日本のTSMC工場が稼働", "TSMC opens Kumamoto plant"}
    assert titles(search(store, "半导体")[0]) == {"日本のTSMC工場が稼働", "半導體產業"}
    assert titles(search(store, "日台")[0]) == {"半導體產業"}


def test_several_arguments_are_one_query(store: Path) -> None:
    assert titles(search(store, "TSMC", "AND", "熊本")[0]) == {"日本のTSMC工場が稼働"}
    assert titles(search(store, "TSMC", "NOT", "熊本")[0]) == {"TSMC opens Kumamoto plant"}


def test_a_thousand_different_cjk_words_are_refused_in_one_line(store: Path) -> None:
    result, elapsed = search(store, " ".join(CJK_WORDS))
    assert_refused(result, "1000 different terms, more than 64")


def test_a_thousand_words_as_arguments_are_refused_in_one_line(store: Path) -> None:
    result, _ = search(store, *CJK_WORDS)
    assert_refused(result, "1000 different terms, more than 64")


def test_a_word_repeated_thousands_of_times_is_searched_once(store: Path) -> None:
    result, elapsed = search(store, *["a"] * 4000)
    assert len(titles(result)) == 20  # the default limit, of the hundred briefs
    assert elapsed < SEARCH_TIMEOUT / 4


def test_a_word_sixteen_thousand_times_is_refused_for_its_length(store: Path) -> None:
    result, elapsed = search(store, *["a"] * 16000)
    assert_refused(result, "longer than 10,000 characters")
    assert elapsed < SEARCH_TIMEOUT / 4


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ((b"TSMC \xff\xfe",), "not valid UTF-8 at position 5"),
        (('"TSMC',), "unterminated phrase at position 0"),
        (("TSMC", "OR"), "expected a term after OR at position 7"),
        (("NOT", "TSMC"), "nothing to search for"),
        (("(TSMC",), "unbalanced parenthesis at position 0"),
        (("NOT " * 100 + "TSMC",), "nested more than 32 levels deep"),
        (("(" * 2000 + "TSMC" + ")" * 2000,), "nested more than 32 levels deep"),
    ],
)
def test_a_bad_query_is_one_line_and_exit_2(store: Path, query: tuple[str | bytes, ...], reason: str) -> None:
    assert_refused(search(store, *query)[0], reason)
