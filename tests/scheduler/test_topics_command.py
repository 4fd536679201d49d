"""`kuroshio topics list` and `kuroshio topics rematch`, run for real on a store of 10,000 articles, and the
daemon re-scoring the archive when it starts after a topic was edited.

The store is built once (bulk inserts, with the matches a crawl under the old definition of the topic
stored) and copied for each test. Five kinds of article, a fifth each, make the counts known in advance
under the new definition — `(Taiwan OR Taipei) AND Japan`, min score 2, instead of `Taiwan AND Japan`,
min score 1 — and a seventh of them mention semiconductors, for the new topic `chips`. The expected
counts are worked out beside the run by matching every article in the test (`expected_matches`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fixture_web import KUROSHIO
from sqlalchemy.exc import OperationalError

import kuroshio.scheduler.daemon
from kuroshio.crawler.topics import Topic, match_topics
from kuroshio.fixtures.server import FixtureWeb
from kuroshio.scheduler.config import load_config
from kuroshio.scheduler.locks import acquire, new_owner, release
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleTopic, Source

ARTICLES = 10_000
CRAWLED_AT = datetime(2025, 6, 1, tzinfo=timezone.utc)
OLD_TOPICS = [Topic.from_config("taiwan-japan", "Taiwan AND Japan", 1)]
NEW_TOPICS = [Topic.from_config("taiwan-japan", "(Taiwan OR Taipei) AND Japan", 2),
              Topic.from_config("chips", "semiconductor*", 1)]
TEXTS = (
    "Taiwan and Japan agreed; Taiwan and Japan signed.",  # scores 2 under both: unchanged
    "Taiwan and Japan met.",  # scores 1: no longer enough
    "Taipei and Japan agreed; Taipei and Japan signed.",  # no Taiwan: newly matches
    "Taiwan, Taipei, Japan, Japan and Japan.",  # 1, now 2 with Taipei: a changed score
    "Rain in Osaka.",  # nothing
)
# Long enough not to be read as a brief (whose sides need only one mention each).
FILLER = " The report goes on about other matters." * 12

Matches = set[tuple[int, str, float, tuple[str, ...]]]


def article_text(number: int) -> str:
    semiconductors = " Semiconductors too." if number % 7 == 0 else ""
    return TEXTS[number % len(TEXTS)] + semiconductors + FILLER


def expected_matches(topics: list[Topic]) -> Matches:
    """What matching every article against `topics` gives: (article id, topic, score, terms)."""
    return {(number + 1, match.topic, match.score, match.terms)
            for number in range(ARTICLES)
            for match in match_topics(topics, title=f"Report {number}", text=article_text(number))}


def summary(old: Matches, new: Matches, *, articles: int = ARTICLES) -> str:
    """What `topics rematch` prints re-scoring `articles` articles from the `old` matches to the `new`."""
    parts = []
    for topic in NEW_TOPICS:
        before = {(article, score, terms) for article, name, score, terms in old if name == topic.name}
        after = {(article, score, terms) for article, name, score, terms in new if name == topic.name}
        ids_before, ids_after = {row[0] for row in before}, {row[0] for row in after}
        changed = len({row[0] for row in after - before} & ids_before)
        parts.append(f"{topic.name}: +{len(ids_after - ids_before)} -{len(ids_before - ids_after)}, "
                     f"{changed} changed scores")
    return f"rematched {articles:,} articles: {'; '.join(parts)}"


@pytest.fixture(scope="module")
def new_summary() -> str:
    """The summary of re-scoring the archive, worked out by matching every article here."""
    return summary(expected_matches(OLD_TOPICS), expected_matches(NEW_TOPICS))


def test_the_archive_has_matches_to_add_remove_and_change(new_summary: str) -> None:
    assert new_summary == ("rematched 10,000 articles: taiwan-japan: +2000 -2000, 2000 changed scores; "
                           "chips: +1429 -0, 0 changed scores")


def config_text(database: Path, topics: list[Topic], *, proxy: str = "") -> str:
    tables = "".join(f'[[topics]]\nname = "{topic.name}"\nquery = "{topic.query}"\nmin_score = {topic.min_score}\n\n'
                     for topic in topics)
    return (f'[storage]\nurl = "sqlite:///{database}"\n\n[crawl]\nproxy = "{proxy}"\nretry_times = 0\n\n'
            f'[daemon]\nevery = "1h"\nheartbeat = "1s"\nshutdown_grace = "5s"\n\n'
            f'[[sources]]\nname = "wire"\nfeeds = ["http://wire.test/feed.xml"]\n\n{tables}')


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store of 10,000 articles with the matches the old definition gave them when crawled."""
    database = tmp_path_factory.mktemp("archive") / "kuroshio.db"
    engine = create_engine_for(f"sqlite:///{database}")
    upgrade_schema(engine)
    articles = [{"id": number + 1, "source_id": 1, "url": f"https://wire.test/{number}",
                 "canonical_url": f"https://wire.test/{number}", "title": f"Report {number}", "authors": [],
                 "text": article_text(number), "content_sha256": f"{number:064x}", "first_seen_at": CRAWLED_AT}
                for number in range(ARTICLES)]
    matches = [{"article_id": article_id, "topic": topic, "score": score, "terms": list(terms)}
               for article_id, topic, score, terms in expected_matches(OLD_TOPICS)]
    with engine.begin() as connection:
        connection.execute(Source.__table__.insert(), [{"id": 1, "name": "wire"}])
        connection.execute(Article.__table__.insert(), articles)
        connection.execute(ArticleTopic.__table__.insert(), matches)
    engine.dispose()
    return database


@pytest.fixture
def store(archive: Path, tmp_path: Path) -> Path:
    """This test's own copy of the archive."""
    database = tmp_path / "kuroshio.db"
    shutil.copyfile(archive, database)
    return database


def write_config(store: Path, topics: list[Topic], **keys: str) -> Path:
    path = store.with_name("kuroshio.toml")
    path.write_text(config_text(store, topics, **keys), encoding="utf-8")
    return path


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KUROSHIO), "--config", str(config), "topics", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def stored_matches(store: Path) -> tuple[Matches, int, set[int]]:
    """The stored matches, how many rows hold them, and the ids of articles whose matches a rematch found."""
    engine = create_engine_for(f"sqlite:///{store}")
    try:
        with session_factory(engine)() as session:
            rows = list(session.query(ArticleTopic))
    finally:
        engine.dispose()
    return ({(row.article_id, row.topic, row.score, tuple(row.terms)) for row in rows}, len(rows),
            {row.article_id for row in rows if row.rematched_at is not None})


def test_rematch_rescores_every_article_and_a_second_run_finds_nothing_to_do(store: Path, new_summary: str) -> None:
    config = write_config(store, NEW_TOPICS)
    listing = run(config, "list")
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[0] for line in listing.stdout.splitlines()[2:]] == ["taiwan-japan", "chips"]
    assert listing.stdout.count("never matched") == 2

    rematch = run(config, "rematch", "--batch-size", "500")

    assert rematch.returncode == 0, rematch.stderr
    assert rematch.stdout == new_summary + "\n"
    progress = rematch.stderr.splitlines()
    assert len(progress) == 21 and progress[0] == "rematch taiwan-japan, chips: 0/10,000 articles"
    assert progress[-1] == "rematch taiwan-japan, chips: 10,000/10,000 articles"
    matches, count, rematched = stored_matches(store)
    assert matches == expected_matches(NEW_TOPICS) and count == len(matches)
    # Found by the rematch: the Taipei articles (taiwan-japan) and the semiconductor ones (chips) only.
    assert rematched == {number + 1 for number in range(ARTICLES) if number % 5 == 2 or number % 7 == 0}
    listing = run(config, "list").stdout
    assert [line.split()[-1] for line in listing.splitlines()[2:]] == ["6000", "1429"]
    assert listing.count("current (matched") == 2
    again = run(config, "rematch")
    assert (again.returncode, again.stdout, again.stderr) == (0, "every topic is current: nothing to rematch\n", "")


def test_a_killed_rematch_resumes_where_it_stopped_and_ends_as_an_uninterrupted_one(
    store: Path, new_summary: str
) -> None:
    config = write_config(store, NEW_TOPICS)
    process = subprocess.Popen([str(KUROSHIO), "--config", str(config), "topics", "rematch", "--batch-size", "500"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if line.startswith("rematch taiwan-japan, chips: 2,500/"):
                process.kill()
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    listing = run(config, "list").stdout
    [through] = {int(line.split("(to article ")[1].split(")")[0]) for line in listing.splitlines() if "partly" in line}
    assert 2_500 <= through < ARTICLES

    resumed = run(config, "rematch", "--batch-size", "500")

    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stderr.splitlines()
    assert [line.split(" from pid")[0] for line in lines[:2]] == [  # the killed run's leases, at once
        "WARNING kuroshio.scheduler.locks: taking over rematch:taiwan-japan",
        "WARNING kuroshio.scheduler.locks: taking over rematch:chips"]
    assert lines[2] == f"rematch taiwan-japan, chips: 0/{ARTICLES - through:,} articles"
    # The counts are the whole rematch's: what the killed run did is in them, once.
    assert resumed.stdout == new_summary.replace("10,000", f"{ARTICLES - through:,}") + "\n"
    matches, count, _ = stored_matches(store)
    assert matches == expected_matches(NEW_TOPICS) and count == len(matches)


def test_ctrl_c_stops_a_rematch_in_one_line_and_it_resumes(store: Path) -> None:
    config = write_config(store, NEW_TOPICS)
    process = subprocess.Popen([str(KUROSHIO), "--config", str(config), "topics", "rematch", "--batch-size", "500"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("rematch taiwan-japan, chips: 1,000/"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest
    assert "Traceback" not in rest
    assert rest.splitlines()[-1].startswith("kuroshio: interrupted after ")
    assert rest.splitlines()[-1].endswith("articles: run it again to resume")

    resumed = run(config, "rematch")
    assert resumed.returncode == 0, resumed.stderr
    matches, count, _ = stored_matches(store)
    assert matches == expected_matches(NEW_TOPICS) and count == len(matches)


def test_naming_a_topic_rematches_it_even_when_current_and_an_unknown_one_is_exit_2(store: Path) -> None:
    config = write_config(store, NEW_TOPICS)
    assert run(config, "rematch").returncode == 0
    again = run(config, "rematch", "--topic", "chips")
    assert (again.returncode, again.stdout) == (0, "rematched 10,000 articles: chips: +0 -0, 0 changed scores\n")
    unknown = run(config, "rematch", "--topic", "chips", "--topic", "weather")
    assert unknown.returncode == 2
    assert unknown.stderr == "kuroshio: unknown topic 'weather' (configured: taiwan-japan, chips)\n"


def test_a_topic_rematched_elsewhere_is_refused_clearly(store: Path) -> None:
    config = write_config(store, NEW_TOPICS)
    engine = create_engine_for(f"sqlite:///{store}")
    owner = new_owner()
    try:
        with session_factory(engine)() as session:
            acquire(session, "rematch:chips", owner=owner, ttl=60)
            refused = run(config, "rematch")
            release(session, "rematch:chips", owner=owner)
    finally:
        engine.dispose()
    assert refused.returncode == 75
    assert refused.stderr.startswith(f"kuroshio: rematch:chips is held by pid {os.getpid()} on ")
    assert refused.stderr.endswith(": not rematched now\n")
    assert stored_matches(store)[0] == expected_matches(OLD_TOPICS)  # the other topic waited too


def test_a_removed_topics_matches_stay_until_pruned(store: Path) -> None:
    config = write_config(store, NEW_TOPICS[1:])
    assert run(config, "rematch").returncode == 0
    listing = run(config, "list").stdout
    assert "not configured: taiwan-japan: 6000 matching articles kept" in listing
    assert {topic for _, topic, *_ in stored_matches(store)[0]} == {"taiwan-japan", "chips"}
    pruned = run(config, "rematch", "--prune")
    assert (pruned.returncode, pruned.stdout) == (0, "pruned taiwan-japan: 6000 matches deleted\n")
    assert {topic for _, topic, *_ in stored_matches(store)[0]} == {"chips"}


# --- the daemon -----------------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    """`daemon(config)` starts `kuroshio daemon` logging to tmp_path/daemon.log; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path) -> subprocess.Popen[bytes]:
        with (tmp_path / "daemon.log").open("ab") as log:
            started.append(subprocess.Popen([str(KUROSHIO), "--log-level", "INFO", "--config", str(config), "daemon"],
                                            stdout=log, stderr=log, start_new_session=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for_log(log: Path, text: str, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {text!r} in the daemon log:\n{content[-3000:]}")


def test_the_daemon_started_after_a_topic_was_edited_rematches_it(
    store: Path, daemon, tmp_path: Path, new_summary: str
) -> None:
    with FixtureWeb() as web:  # the source's crawl asks it, and finds nothing: no article is added
        config = write_config(store, OLD_TOPICS, proxy=web.proxy_url)
        assert run(config, "rematch").stdout == "rematched 10,000 articles: taiwan-japan: +0 -0, 0 changed scores\n"
        config = write_config(store, NEW_TOPICS, proxy=web.proxy_url)

        process = daemon(config)
        log = wait_for_log(tmp_path / "daemon.log", "rematch of topics taiwan-japan, chips ended", timeout=120)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0

    assert "rematch of topics taiwan-japan, chips started (pid " in log
    assert f"rematch of topics taiwan-japan, chips ended: {new_summary}" in log
    assert "rematch taiwan-japan, chips: " not in log  # no progress lines: one line at start, one at end
    matches, count, _ = stored_matches(store)
    assert matches == expected_matches(NEW_TOPICS) and count == len(matches)
    assert run(config, "list").stdout.count("current (matched") == 2


def test_a_rematch_check_the_store_refused_is_one_line_and_is_tried_again(
    store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        error = sqlite3.OperationalError("unable to open database file")
        error.sqlite_errorname = "SQLITE_CANTOPEN"  # set by the sqlite3 module on the errors it raises
        raise OperationalError("SELECT ... FROM topic_definitions", {}, error)

    monkeypatch.setattr(kuroshio.scheduler.daemon, "topics_to_rematch", refused)
    scheduler_daemon = kuroshio.scheduler.daemon.Daemon(load_config(write_config(store, NEW_TOPICS)), log_level="INFO")
    with caplog.at_level(logging.INFO, logger="kuroshio.scheduler.daemon"):
        scheduler_daemon._rematch()

    [warning] = caplog.records
    assert warning.getMessage().startswith("rematch of the topics not done (cannot write to the database ")
    assert warning.exc_info is None
    assert scheduler_daemon.scheduler.get_job("rematch") is not None
