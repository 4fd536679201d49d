"""Fault 15: the disk holding the SQLite store fills up, or its filesystem turns read-only (and a
PostgreSQL database set read-only, when `KUROSHIO_TEST_POSTGRES_URL` names one).

A one-off `kuroshio crawl` then exits 74 with one line naming the database and the cause, and no
traceback (so do `status` and a starting daemon); a running daemon logs the same, keeps its schedule
and heartbeat going, and stores what it could not as soon as the space or the writability is back; a
crawl the full disk cut short is recorded failed. What was stored before is intact: the same rows, and
SQLite's integrity check passes. The faults are real (a small tmpfs filled by a ballast file, or
remounted read-only: see `unwritable_store`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from databases import POSTGRES_MARKS, POSTGRES_URL, reset_postgres_schema
from fixture_web import KUROSHIO, kuroshio
from sqlalchemy import NullPool, create_engine
from sqlalchemy.engine import make_url
from unwritable_store import FAULTS, BrokenStore, broken_store, integrity, read_articles, read_runs, read_urls

from kuroshio.fixtures.server import DEFAULT_ROOT, FixtureWeb
from kuroshio.scheduler.exits import EXIT_STORE_UNWRITABLE

pytestmark = pytest.mark.faults

KYODO = "english.kyodonews.test"
KYODO_ARTICLES = {f"http://{KYODO}/articles/-/{number}" for number in (38517, 38544, 36871)}
NEW_ARTICLE = f"http://{KYODO}/articles/-/39001"


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """Pages laid over the bundled fixture web (a new article, a listing that links it)."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    return folder


@pytest.fixture
def web(overlay: Path) -> Iterator[FixtureWeb]:
    with FixtureWeb(roots=[overlay, DEFAULT_ROOT]) as served:
        yield served


@pytest.fixture(params=FAULTS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokenStore]:
    with broken_store(tmp_path / "store", request.param) as broken:
        yield broken


def write_config(folder: Path, *, database_url: str, web: FixtureWeb, every: str = "1h") -> Path:
    """Kyodo alone, crawled `every` so often by a daemon with a one-second heartbeat."""
    path = folder / "kuroshio.toml"
    path.write_text(
        f'[storage]\nurl = "{database_url}"\n\n'
        f'[crawl]\nproxy = "{web.proxy_url}"\ndownload_delay = 0.0\nautothrottle = false\ntimeout = 30\n'
        f'retry_times = 0\n\n[daemon]\nheartbeat = "1s"\nshutdown_grace = "5s"\n\n'
        f'[[sources]]\nname = "kyodo"\nlisting_pages = ["http://{KYODO}/news/asia"]\n'
        f"article_url_pattern = '/articles/-/\\d+'\nallowed_domains = [\"{KYODO}\"]\nrobots_sitemaps = false\n"
        f'publisher = "kyodo"\nevery = "{every}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)  # it holds the PostgreSQL password: Kuroshio warns of a file others can read
    return path


def publish_new_article(overlay: Path) -> None:
    """Article 39001, linked first from the Asia listing."""
    articles = DEFAULT_ROOT / KYODO / "articles" / "-"
    page = overlay / KYODO / "articles" / "-" / "39001.html"
    page.parent.mkdir(parents=True)
    page.write_text((articles / "38544.html").read_text(encoding="utf-8").replace("38544", "39001").replace(
        "Japan's Diet on Friday enacted a bill", "Japan's Diet on Monday enacted a second bill"), encoding="utf-8")
    listing = (DEFAULT_ROOT / KYODO / "news" / "asia.html").read_text(encoding="utf-8")
    (overlay / KYODO / "news").mkdir()
    (overlay / KYODO / "news" / "asia.html").write_text(listing.replace(
        '<li><a href="/articles/-/38544">', '<li><a href="/articles/-/39001">New bill</a></li>'
        '<li><a href="/articles/-/38544">'), encoding="utf-8")


def assert_unharmed(store: BrokenStore, before: list[tuple]) -> None:
    """Every row stored before the fault is still there, unchanged, in an undamaged file."""
    assert integrity(store.database) == "ok"
    after = {row[0]: row for row in read_articles(store.database)}
    assert [after.get(row[0]) for row in before] == before
    urls = read_urls(store.database)
    assert len(urls) == len(set(urls)), "an article URL stored twice"


def assert_one_clear_line(stderr: str, store: BrokenStore) -> None:
    """`stderr` is one line naming the database and the fault, no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"kuroshio: cannot write to the database {store.database}: "), lines[0]
    assert re.search(store.says, lines[0]), lines[0]


def test_a_one_off_crawl_into_an_unwritable_store_fails_in_one_clear_line_and_harms_nothing(
    store, web, overlay, tmp_path
):
    config = write_config(tmp_path, database_url=store.url, web=web)
    first = kuroshio(config, "crawl")
    assert first.returncode == 0, first.stderr
    before = read_articles(store.database)
    assert {row[1] for row in before} == KYODO_ARTICLES
    publish_new_article(overlay)
    web.clear_log()

    store.inflict()
    refused = kuroshio(config, "crawl")
    store.repair()

    assert refused.returncode == EXIT_STORE_UNWRITABLE, refused.stderr
    assert_one_clear_line(refused.stderr, store)
    assert not web.requests, "a crawl that cannot store fetches nothing"
    assert_unharmed(store, before)

    again = kuroshio(config, "crawl")  # the same command succeeds once the fault is gone
    assert again.returncode == 0, again.stderr
    assert_unharmed(store, before)
    assert {row[1] for row in read_articles(store.database)} == KYODO_ARTICLES | {NEW_ARTICLE}


def test_status_and_a_starting_daemon_refuse_an_unwritable_store_in_one_clear_line(store, web, tmp_path):
    config = write_config(tmp_path, database_url=store.url, web=web)
    assert kuroshio(config, "db", "upgrade").returncode == 0

    store.inflict()
    status = kuroshio(config, "status")  # reading commands bring the schema up to date first: a write
    daemon = kuroshio(config, "daemon")
    store.repair()

    assert status.returncode == EXIT_STORE_UNWRITABLE, status.stderr
    assert_one_clear_line(status.stderr, store)
    assert daemon.returncode == EXIT_STORE_UNWRITABLE, daemon.stderr
    assert re.fullmatch(f"ERROR kuroshio.scheduler.daemon: cannot write to the database {re.escape(str(store.database))}: "
                        f".*({store.says}).*: daemon not started\n", daemon.stderr), daemon.stderr
    assert kuroshio(config, "status").returncode == 0
    assert integrity(store.database) == "ok"


class Daemon:
    """A `kuroshio daemon` subprocess logging to a file, in its own session (killed with its crawls)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as stream:
            self.process = subprocess.Popen([str(KUROSHIO), "--log-level", "INFO", "--config", str(config), "daemon"],
                                            stdout=stream, stderr=stream, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, condition: Callable[[], object], *, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the daemon exited ({self.process.returncode}):\n{self.output()[-3000:]}"
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def start_daemon(store: BrokenStore, tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    """Daemons killed before the store's filesystem is unmounted (this fixture depends on `store`)."""
    daemons: list[Daemon] = []

    def start(config: Path) -> Daemon:
        daemons.append(Daemon(config, tmp_path / f"daemon-{len(daemons)}.log"))
        return daemons[-1]

    yield start
    for daemon in daemons:
        daemon.kill()


def test_the_daemon_logs_an_unwritable_store_carries_on_and_stores_the_missed_article_later(
    store, web, overlay, tmp_path, start_daemon
):
    daemon = start_daemon(write_config(tmp_path, database_url=store.url, web=web, every="2s"))
    ended_well = "crawl of kyodo ended with status 0"
    daemon.wait_for(lambda: ended_well in daemon.output(), what="a first crawl")
    before = read_articles(store.database)
    assert {row[1] for row in before} == KYODO_ARTICLES

    store.inflict()
    publish_new_article(overlay)
    refused = f"kuroshio: cannot write to the database {store.database}: "
    retried = "crawl of kyodo could not write to the database (its message is above): the next scheduled run tries again"
    daemon.wait_for(lambda: daemon.output().count(retried) >= 2, what="two scheduled crawls refused by the store")
    daemon.wait_for(lambda: "could not renew leases daemon: cannot write to the database" in daemon.output(),
                    what="the heartbeat refused by the store")
    log = daemon.output()
    crawl_said = [line for line in log.splitlines() if line.startswith(refused)]
    assert crawl_said and all(re.search(store.says, line) for line in crawl_said), crawl_said
    assert "Traceback" not in log, log[log.find("Traceback") - 500:]
    # One more scheduled crawl later (two seconds, so the one-second heartbeat has failed again meanwhile):
    refusals = log.count(retried)
    daemon.wait_for(lambda: daemon.output().count(retried) > refusals, what="one more scheduled crawl refused")
    assert daemon.process.poll() is None, "the daemon keeps running on an unwritable store"
    assert daemon.output().count("could not renew leases daemon") == 1, "a failing heartbeat is said once, not every second"

    store.repair()
    daemon.wait_for(lambda: "leases daemon renewed again" in daemon.output(), what="the heartbeat back")
    daemon.wait_for(lambda: NEW_ARTICLE in {row[1] for row in read_articles(store.database)},
                    what="the article published during the fault")
    assert daemon.terminate() == 0
    assert_unharmed(store, before)
    assert {row[1] for row in read_articles(store.database)} == KYODO_ARTICLES | {NEW_ARTICLE}
    runs = read_runs(store.database)
    assert not [run for run in runs if run[1] == "running"], runs
    assert "Traceback" not in daemon.output(), daemon.output()[daemon.output().find("Traceback") - 500:]


@pytest.fixture
def read_only_postgres() -> Iterator[Callable[[bool], None]]:
    """A switch making the test PostgreSQL database read-only for new sessions; switched back at the end."""
    database = make_url(POSTGRES_URL).database
    reset_postgres_schema(POSTGRES_URL)
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def switch(read_only: bool) -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET default_transaction_read_only = off")  # to undo it, too
            connection.exec_driver_sql(f'ALTER DATABASE "{database}" ' + (
                "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"))

    try:
        yield switch
    finally:
        switch(False)
        engine.dispose()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=POSTGRES_MARKS)])
def test_a_one_off_crawl_into_a_read_only_postgresql_database_fails_in_one_clear_line_and_harms_nothing(
    backend, read_only_postgres, web, overlay, tmp_path
):
    config = write_config(tmp_path, database_url=POSTGRES_URL, web=web)
    assert kuroshio(config, "crawl").returncode == 0
    before = stored_rows(POSTGRES_URL)
    publish_new_article(overlay)
    web.clear_log()

    read_only_postgres(True)
    refused = kuroshio(config, "crawl")
    read_only_postgres(False)

    assert refused.returncode == EXIT_STORE_UNWRITABLE, refused.stderr
    shown_url = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    assert re.fullmatch(f"kuroshio: cannot write to the database {re.escape(shown_url)}: cannot execute [A-Z ]+ "
                        "in a read-only transaction\n",
                        refused.stderr), refused.stderr
    assert not web.requests
    assert stored_rows(POSTGRES_URL) == before
    assert kuroshio(config, "crawl").returncode == 0
    after = stored_rows(POSTGRES_URL)
    assert after[: len(before)] == before
    assert {row[1] for row in after} == KYODO_ARTICLES | {NEW_ARTICLE}


def stored_rows(url: str) -> list[tuple]:
    """Every stored article, field by field, in the order stored."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(
                "SELECT id, url, canonical_url, title, text, content_sha256 FROM articles ORDER BY id")]
    finally:
        engine.dispose()


@pytest.mark.parametrize("store", ["full"], indirect=True)  # a filesystem with a file open for writing cannot be
def test_a_crawl_cut_short_by_a_full_disk_is_recorded_failed_and_the_next_stores_the_rest(  # remounted read-only
    store, web, overlay, tmp_path, start_daemon
):
    for article in (DEFAULT_ROOT / KYODO / "articles" / "-").glob("*.html"):  # a crawl of 3 articles takes 6 s
        page = overlay / KYODO / "articles" / "-" / article.name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(article.read_bytes())
        page.with_name(page.name + ".headers.json").write_text('{"delay": 2}', encoding="utf-8")
    config = write_config(tmp_path, database_url=store.url, web=web, every="2s")
    config.write_text(config.read_text().replace("[crawl]\n", "[crawl]\nconcurrent_per_domain = 1\n"), encoding="utf-8")
    daemon = start_daemon(config)
    daemon.wait_for(lambda: "daemon started" in daemon.output(), what="the daemon (and its schema)")
    daemon.wait_for(lambda: read_articles(store.database), what="a first stored article")
    before = read_articles(store.database)

    store.inflict()
    daemon.wait_for(lambda: "crawl of kyodo ended with status 74" in daemon.output(), what="the cut crawl to end")
    log = daemon.output()
    assert re.search(r"WARNING kuroshio\.crawler\.spiders\.source: kyodo: http://\S+: store failed: OperationalError", log), \
        "an article fetched after the disk filled was refused"
    assert re.search(f"kuroshio: cannot write to the database {re.escape(str(store.database))}: .*{store.says}", log)
    for sidecar in overlay.rglob("*.headers.json"):  # the next crawl need not be slow
        sidecar.unlink()
    store.repair()

    daemon.wait_for(lambda: {row[1] for row in read_articles(store.database)} == KYODO_ARTICLES,
                    what="the next crawl to store the articles the cut one could not")
    daemon.wait_for(lambda: ("kyodo", "ok", None) in read_runs(store.database), what="the next crawl's record")
    assert daemon.terminate() == 0
    assert_unharmed(store, before)
    runs = read_runs(store.database)
    assert runs[0] == ("kyodo", "failed", "the database refused writes (full or read-only?)"), runs
    assert not [run for run in runs if run[1] == "running"], runs
    assert "Traceback" not in daemon.output(), daemon.output()[daemon.output().find("Traceback") - 500:]
