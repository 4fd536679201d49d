"""Fault 16: two `kuroshio crawl --source` processes of two sources write into one store at once, on
SQLite and on PostgreSQL — including the stories both sources carry, which both processes fetch and
store at the same moment: each is one article, its other URLs kept as aliases, with no unique
violation, serialization failure or lock error on the way.

The fixtures are `fixtures/hostile/concurrent-sources/` (see its README). Two things make the two
writes of a shared story really run into each other instead of merely happening in the same minute:
the fixture web answers a shared story only once both crawls have asked for it (one story at a time),
and just before, the test shuts a gate on the store that holds the writes of that story back until
both crawls are stuck in them. On PostgreSQL the test sees both writers waiting and asserts it; there,
taking the store's guards out of `kuroshio.storage.articles` (the advisory locks per URL and the retry after an
IntegrityError) makes this test fail on every run, with a UniqueViolation on `articles.url` or
`article_urls.url` and a shared story's second URL lost.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from databases import BACKENDS, POSTGRES_URL, reset_postgres_schema
from fixture_web import KUROSHIO, stored_articles, write_config
from hostile_crawl import CRAWL_TIMEOUT, HOSTILE
from network_crawl import served, set_crawl_keys
from sqlalchemy import Engine, select, text

from kuroshio.fixtures.server import FixtureWeb, Response, ServedRequest
from kuroshio.storage.engine import create_engine_for, session_factory, write_transaction
from kuroshio.storage.models import Article, ArticleURL, CrawlRun, Source
from kuroshio.storage.runs import list_runs

pytestmark = pytest.mark.faults

CASE = HOSTILE / "concurrent-sources"
SOURCE_NAMES = ("east", "west")
SOURCES = "".join(
    f'[[sources]]\nname = "{name}"\nfeeds = ["http://{name}.news.test/feed.xml"]\n'
    f'allowed_domains = ["{name}.news.test", "wire.news.test"]\narticle_url_pattern = "/(news|stories)/"\n'
    "robots_sitemaps = false\n\n"
    for name in SOURCE_NAMES
)
OWN_ARTICLES = {
    "east": ("http://east.news.test/news/rail-strike", "http://east.news.test/news/chip-plant",
             "http://east.news.test/news/harbour-festival"),
    "west": ("http://west.news.test/news/tea-harvest", "http://west.news.test/news/baseball-series",
             "http://west.news.test/news/city-budget"),
}
TYPHOON = "http://wire.news.test/stories/typhoon"  # the same URL in both feeds
FERRY = "http://wire.news.test/stories/ferry-line"  # the canonical both publishers' copies name
FERRY_COPIES = ("http://east.news.test/news/ferry-line", "http://west.news.test/news/ferry-line")
# Each shared story, by the URL it is stored under: the URLs the crawls fetch it under.
SHARED = {TYPHOON: (TYPHOON,), FERRY: FERRY_COPIES}
# The default topic leaves out a typhoon's track and a tournament naming both countries (crawler/topics.py).
RELEVANT = {"http://east.news.test/news/chip-plant", FERRY}
# Long enough for a late second process on a loaded machine; the crawls' download timeout is longer still.
RENDEZVOUS_TIMEOUT = 60.0
GATE_TIMEOUT = 30.0
# SQLite cannot show who waits for its write lock: its gate stays shut this long, ample for a crawl
# that has its page to reach its write.
SQLITE_GATE_HOLD = 1.0
# What a lost race between the two writers would leave in a log (PostgreSQL's and SQLite's words).
RACE_SYMPTOMS = ("could not serialize", "deadlock", "IntegrityError", "UniqueViolation", "duplicate key",
                 "database is locked", "Traceback", "store failed")
# Sessions of this database that wait for a lock right now, as the lock manager says (wait_event in
# pg_stat_activity lags: a session woken by a released lock reports its wait until it runs again).
WAITING_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND cardinality(pg_blocking_pids(pid)) > 0"
)


class RendezvousWeb(FixtureWeb):
    """The fixture web, answering each shared story only once every crawl has asked for it;
    `before_answer(story)` runs when they all have, before any is answered."""

    def __init__(self, roots: Sequence[Path], *, stories: Mapping[str, Sequence[str]], parties: int,
                 before_answer: Callable[[str], None]) -> None:
        super().__init__(roots)
        self._story_by_url = {url: story for story, urls in stories.items() for url in urls}
        self._barriers = {story: threading.Barrier(parties, action=partial(before_answer, story))
                          for story in stories}
        self.met: list[str] = []  # each held request that was answered together with the others
        self.missed: list[str] = []  # ... or that waited in vain (a crawl never came)

    def respond(self, host: str, path: str, *, url: str = "") -> Response:
        """The usual answer, held back for a shared story until every crawl has asked for it."""
        page = f"http://{host}{path}"
        if story := self._story_by_url.get(page):
            try:
                self._barriers[story].wait(RENDEZVOUS_TIMEOUT)
                self.met.append(page)
            except threading.BrokenBarrierError:
                self.missed.append(page)
        return super().respond(host, path, url=url)


@dataclass
class WriteGate:
    """Holds the writes of one story back until `writers` crawls wait to write it, then lets them go
    together; one story at a time.

    On PostgreSQL the gate is an uncommitted `article_urls` row holding the story's URL: a writer of
    that URL waits for it, a writer of any other article does not; it opens once `writers` sessions
    of the database wait for a lock. SQLite already makes writers take turns and cannot show who
    waits: there the gate is its write lock, held `SQLITE_GATE_HOLD`.
    """

    database_url: str
    writers: int
    writers_seen_waiting: dict[str, int] = field(default_factory=dict)  # by story URL; PostgreSQL only
    _turn: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _holder: threading.Thread | None = field(default=None, init=False, repr=False)

    def shut(self, story_url: str) -> None:
        """Once the previous story's gate has opened, shut one for `story_url`; return once it is shut."""
        with self._turn:
            self.wait_open()
            shut = threading.Event()
            self._holder = threading.Thread(target=self._hold, args=(story_url, shut), name="write-gate",
                                            daemon=True)
            self._holder.start()
            if not shut.wait(GATE_TIMEOUT):
                raise TimeoutError(f"the write gate for {story_url} could not be shut")

    def wait_open(self) -> None:
        """Return once the last gate shut has opened again."""
        if self._holder is not None:
            self._holder.join(GATE_TIMEOUT + SQLITE_GATE_HOLD)

    def _hold(self, story_url: str, shut: threading.Event) -> None:
        engine = create_engine_for(self.database_url)
        try:
            with session_factory(engine)() as session, write_transaction(session):  # BEGIN IMMEDIATE on SQLite
                gate = Article(source=Source(name="write-gate"), url=f"{story_url}#write-gate",
                               canonical_url=story_url, title="", text="", content_sha256="",
                               first_seen_at=datetime.now(timezone.utc), urls=[ArticleURL(url=story_url)])
                session.add(gate)
                session.flush()
                shut.set()
                if session.get_bind().dialect.name == "postgresql":
                    self.writers_seen_waiting[story_url] = self._wait_for_writers(engine)
                else:
                    time.sleep(SQLITE_GATE_HOLD)
                session.delete(gate)
                session.delete(gate.source)
        finally:
            engine.dispose()

    def _wait_for_writers(self, engine: Engine) -> int:
        """How many sessions of the database wait for a lock, once it is `writers` (or time is up). Each
        look is a transaction of its own: PostgreSQL reads pg_stat_activity once per transaction."""
        deadline = time.monotonic() + GATE_TIMEOUT
        while True:
            with engine.connect() as connection:
                waiting = connection.scalar(WAITING_SESSIONS)
            if waiting >= self.writers or time.monotonic() > deadline:
                return waiting
            time.sleep(0.05)


@dataclass(frozen=True)
class ConcurrentCrawls:
    """What the two simultaneous crawls did, as their processes, the server and the store saw it."""

    backend: str
    crawls: dict[str, subprocess.CompletedProcess[str]]
    runs: dict[str, CrawlRun]
    requests: list[ServedRequest]
    met: list[str]
    missed: list[str]
    writers_seen_waiting: dict[str, int]
    articles: list[dict]
    article_id_by_url: dict[str, int]


@pytest.fixture(scope="module", params=BACKENDS)
def concurrent_crawls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[ConcurrentCrawls]:
    # One pair of crawls per backend, read by every test below (as tests/test_crawl_end_to_end.py does).
    folder = tmp_path_factory.mktemp("concurrent-sources")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'kuroshio.db'}"
    else:
        reset_postgres_schema(POSTGRES_URL)
        database_url = POSTGRES_URL
    gate = WriteGate(database_url, writers=len(SOURCE_NAMES))
    web = RendezvousWeb([CASE], stories=SHARED, parties=len(SOURCE_NAMES), before_answer=gate.shut)
    with web:
        config = write_config(folder / "kuroshio.toml", database_url=database_url, proxy=web.proxy_url,
                              sources=SOURCES)
        set_crawl_keys(config, timeout=RENDEZVOUS_TIMEOUT + 2 * GATE_TIMEOUT)
        crawls = crawl_at_once(config, SOURCE_NAMES)
        requests = web.requests
    gate.wait_open()
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            runs = {name: list_runs(session, source=name, limit=1)[0] for name in SOURCE_NAMES}
            article_id_by_url = {row.url: row.article_id for row in session.scalars(select(ArticleURL))}
    finally:
        engine.dispose()
    yield ConcurrentCrawls(request.param, crawls, runs, requests, web.met, web.missed, gate.writers_seen_waiting,
                           stored_articles(config), article_id_by_url)


def crawl_at_once(config: Path, source_names: Sequence[str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Start one real `kuroshio crawl --source NAME` per source together; wait for all of them."""
    processes = {
        name: subprocess.Popen(
            [str(KUROSHIO), "--config", str(config), "--log-level", "INFO", "crawl", "--source", name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in source_names
    }
    finished = {}
    try:
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=CRAWL_TIMEOUT)
            finished[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    finally:  # a crawl that outlived its timeout is not left running
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return finished


def stored_by(crawls: ConcurrentCrawls, canonical_url: str) -> str:
    """The source credited with the article stored under `canonical_url` (the crawl that stored it first)."""
    [article] = [article for article in crawls.articles if article["canonical_url"] == canonical_url]
    return article["source"]


def test_both_crawls_exit_zero_and_run_at_the_same_time(concurrent_crawls: ConcurrentCrawls) -> None:
    for name, crawl in concurrent_crawls.crawls.items():
        assert crawl.returncode == 0, f"{name}: {crawl.stderr}"
        assert any(line.startswith(name) and " ok " in line for line in crawl.stdout.splitlines()), crawl.stdout
    east, west = (concurrent_crawls.runs[name] for name in SOURCE_NAMES)
    assert east.started_at < west.finished_at and west.started_at < east.finished_at


def test_both_crawls_fetched_each_shared_story_at_the_same_moment(concurrent_crawls: ConcurrentCrawls) -> None:
    """The bad path is reached: neither crawl knew a shared story when it started, both fetched it, and
    the server answered both requests together."""
    assert concurrent_crawls.missed == []
    assert sorted(concurrent_crawls.met) == sorted([TYPHOON, TYPHOON, *FERRY_COPIES])
    for story_urls in SHARED.values():
        answers = [r for url in dict.fromkeys(story_urls) for r in served(concurrent_crawls.requests, url=url)]
        assert len(answers) == len(SOURCE_NAMES), story_urls
        assert max(r.at for r in answers) - min(r.at for r in answers) < 1.0, answers


def test_both_crawls_were_writing_each_shared_story_at_the_same_moment_on_postgresql(
    concurrent_crawls: ConcurrentCrawls,
) -> None:
    if concurrent_crawls.backend != "postgres":
        pytest.skip("SQLite cannot show who waits for its write lock")
    assert concurrent_crawls.writers_seen_waiting == {story: len(SOURCE_NAMES) for story in SHARED}


def test_every_article_is_stored_exactly_once(concurrent_crawls: ConcurrentCrawls) -> None:
    stored = sorted(article["canonical_url"] for article in concurrent_crawls.articles)
    own = [url for urls in OWN_ARTICLES.values() for url in urls]
    assert stored == sorted([*own, *SHARED])
    for name, urls in OWN_ARTICLES.items():
        assert all(stored_by(concurrent_crawls, url) == name for url in urls)


def test_a_shared_story_is_one_article_with_every_url_it_was_seen_under_as_an_alias(
    concurrent_crawls: ConcurrentCrawls,
) -> None:
    article_ids = concurrent_crawls.article_id_by_url
    typhoon_id, ferry_id = article_ids[TYPHOON], article_ids[FERRY]
    assert typhoon_id != ferry_id
    assert all(article_ids[url] == ferry_id for url in FERRY_COPIES)
    by_id = {article["id"]: article["canonical_url"] for article in concurrent_crawls.articles}
    assert (by_id[typhoon_id], by_id[ferry_id]) == (TYPHOON, FERRY)


def test_both_runs_are_ok_and_count_the_shared_stories_once_between_them(concurrent_crawls: ConcurrentCrawls) -> None:
    """Each run counts its own articles and the shared stories it stored first as new, the shared stories
    the other crawl stored first as duplicates; every page the server answered is counted by one run."""
    for name, run in concurrent_crawls.runs.items():
        won = [story for story in SHARED if stored_by(concurrent_crawls, story) == name]
        mine = [article for article in concurrent_crawls.articles if article["source"] == name]
        assert (run.status, run.errors, run.errors_count) == ("ok", [], 0), name
        assert run.articles_new == len(OWN_ARTICLES[name]) + len(won) == len(mine), name
        assert run.duplicates_skipped == len(SHARED) - len(won), name
        assert run.articles_relevant == sum(1 for article in mine if article["topics"]), name
    relevant = {article["canonical_url"] for article in concurrent_crawls.articles if article["topics"]}
    assert relevant == RELEVANT
    assert sum(run.pages_fetched for run in concurrent_crawls.runs.values()) == len(concurrent_crawls.requests)


def test_neither_crawl_logs_a_serialization_failure_or_unique_violation(concurrent_crawls: ConcurrentCrawls) -> None:
    for name, crawl in concurrent_crawls.crawls.items():
        log = crawl.stdout + crawl.stderr
        assert not [symptom for symptom in RACE_SYMPTOMS if symptom in log], f"{name}: {log}"
