"""`kuroshio daemon` as a real subprocess against the fixture web, with second-scale schedules.

Each test starts its own fixture web (an overlay root lets it add, slow down or stall pages) and
its own SQLite database, and reads the crawl records back from the database.

No test sleeps to see that nothing happens, or races a time limit against a crawl's start-up: each
waits (with a deadline) for the record, log line or served request that shows the daemon got where the
test needs it, and a time limit is either generous or meant for a crawl that can never finish.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path

import pytest
from fixture_web import KUROSHIO, free_port, kuroshio, kuroshio_in_process

from kuroshio.fixtures.server import DEFAULT_ROOT, FixtureWeb
from kuroshio.scheduler.locks import DAEMON_LEASE, holder
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleURL, CrawlRun
from kuroshio.storage.runs import finish_run, start_run

TESTS = Path(__file__).resolve().parents[1]
KYODO = "english.kyodonews.test"
KYODO_SOURCE = f"""
[[sources]]
name = "kyodo"
listing_pages = ["http://{KYODO}/news/asia"]
article_url_pattern = '/articles/-/\\d+'
allowed_domains = ["{KYODO}"]
robots_sitemaps = false
publisher = "kyodo"
"""


@dataclass
class Site:
    """A fixture web with a writable overlay, and a database and config for one daemon test."""

    web: FixtureWeb
    overlay: Path
    folder: Path
    database_url: str

    def config(self, sources: str, *, daemon: str = "", crawl: str = "", grace: str = "5s") -> Path:
        path = self.folder / "kuroshio.toml"
        path.write_text(
            f'[storage]\nurl = "{self.database_url}"\n\n'
            f'[crawl]\nproxy = "{self.web.proxy_url}"\ndownload_delay = 0.0\nautothrottle = false\n'
            f"timeout = 30\nretry_times = 0\n{crawl}\n"
            f'[daemon]\nevery = "1h"\nheartbeat = "1s"\nshutdown_grace = "{grace}"\n{daemon}\n{sources}',
            encoding="utf-8",
        )
        return path

    def add_page(self, url_path: str, body: str, *, delay: float = 0.0, host: str = KYODO) -> None:
        page = self.overlay / host / url_path
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(body, encoding="utf-8")
        if delay:
            page.with_name(page.name + ".headers.json").write_text(f'{{"delay": {delay}}}', encoding="utf-8")

    def slow_down_kyodo_articles(self, delay: float) -> None:
        """Serve every Kyodo article page after `delay` seconds."""
        for article in (DEFAULT_ROOT / KYODO / "articles" / "-").glob("*.html"):
            self.add_page(f"articles/-/{article.name}", article.read_text(encoding="utf-8"), delay=delay)

    def stall(self, host: str = "stall.test") -> None:
        """A feed on `host` that answers only after ten minutes: a crawl of it hangs, and on SIGTERM Scrapy
        waits for it until the download timeout (30 s), so the daemon has to kill the crawl."""
        self.add_page("feed.xml", "<rss><channel><title>never</title></channel></rss>", delay=600, host=host)

    def serve_without_delays(self) -> None:
        """Every page of the overlay answers at once from now on."""
        for sidecar in self.overlay.rglob("*.headers.json"):
            sidecar.unlink()

    def runs(self) -> list[CrawlRun]:
        with self.sessions() as session:
            return list(session.query(CrawlRun).order_by(CrawlRun.id))

    def article_urls(self) -> list[str]:
        with self.sessions() as session:
            return [article.url for article in session.query(Article)]

    def all_urls(self) -> list[str]:
        with self.sessions() as session:
            return [row.url for row in session.query(ArticleURL)]

    def published(self) -> dict:
        """What the daemon last published with its heartbeat: its jobs' next runs and its running crawls."""
        with self.sessions() as session:
            current = holder(session, DAEMON_LEASE)
        return current.info if current is not None else {}

    @cached_property
    def sessions(self):
        engine = create_engine_for(self.database_url)
        upgrade_schema(engine)
        return session_factory(engine)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    with FixtureWeb(roots=[overlay, DEFAULT_ROOT]) as web:
        yield Site(web, overlay, tmp_path, f"sqlite:///{tmp_path / 'kuroshio.db'}")


class Daemon:
    """A `kuroshio daemon` subprocess in its own session (so a test can kill it with its crawls)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        environment = {**os.environ, "PYTHONFAULTHANDLER": "1",  # SIGABRT dumps the stacks (`terminate`)
                       "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        with log.open("ab") as stream:
            self.process = subprocess.Popen(
                [str(KUROSHIO), "--log-level", "INFO", "--config", str(config), "daemon"],
                stdout=stream, stderr=stream, env=environment, start_new_session=True,
            )

    def terminate(self, *, grace: float = 15.0) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the exit took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:  # a hung daemon writes every thread's stack into its log, then dies
            self.process.send_signal(signal.SIGABRT)
            self.process.wait(timeout=10)
            raise
        return code, time.monotonic() - started

    def kill_with_its_crawls(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Kill the daemon and whatever crawl it left (one that ignores SIGTERM outlives an os._exit)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    daemons: list[Daemon] = []

    def start(config: Path) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon-{len(daemons)}.log")
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, log: Daemon | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    detail = f"\n--- daemon log ---\n{log.output()[-3000:]}" if log else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")


def finished(runs: list[CrawlRun], source: str, status: str = "ok") -> list[CrawlRun]:
    return [run for run in runs if run.source.name == source and run.status == status]


def idle_for_an_hour(published: dict) -> bool:
    """Whether the daemon's published state shows no running crawl and every job's next run an hour away."""
    if "running" not in published or published["running"]:
        return False
    in_an_hour = datetime.now(timezone.utc) + timedelta(hours=1)
    return all(next_run and datetime.fromisoformat(next_run) > in_an_hour for next_run in published["jobs"].values())


def test_daemon_crawls_again_and_again_and_picks_up_a_new_article(site, start_daemon):
    config = site.config(KYODO_SOURCE.replace('publisher = "kyodo"', 'publisher = "kyodo"\nevery = "2s"'))
    daemon = start_daemon(config)
    wait_for(lambda: len(finished(site.runs(), "kyodo")) >= 1, timeout=60, what="a first crawl", log=daemon)

    template = (DEFAULT_ROOT / KYODO / "articles" / "-" / "38544.html").read_text(encoding="utf-8")
    site.add_page("articles/-/39001.html", template.replace("38544", "39001").replace(
        "Japan's Diet on Friday enacted a bill", "Japan's Diet on Monday enacted a second bill"))
    listing = (DEFAULT_ROOT / KYODO / "news" / "asia.html").read_text(encoding="utf-8")
    site.add_page("news/asia.html", listing.replace(
        '<li><a href="/articles/-/38544">', '<li><a href="/articles/-/39001">New bill</a></li><li><a href="/articles/-/38544">'))
    new_url = f"http://{KYODO}/articles/-/39001"
    wait_for(lambda: new_url in site.article_urls(), timeout=60, what="the new article", log=daemon)
    wait_for(lambda: len(finished(site.runs(), "kyodo")) >= 3, timeout=60, what="three crawls", log=daemon)

    code, _ = daemon.terminate()
    assert code == 0, daemon.output()[-2000:]
    urls = site.all_urls()
    assert len(urls) == len(set(urls))
    assert sorted(site.article_urls()) == sorted({f"http://{KYODO}/articles/-/{n}" for n in (38517, 38544, 36871, 39001)})
    assert not [run for run in site.runs() if run.status == "running"]


HANGS_SOURCE = """
[[sources]]
name = "hangs"
feeds = ["http://stall.test/feed.xml"]
robots_sitemaps = false
every = "2s"
"""
CRASHES_SOURCE = """
[[sources]]
name = "crashes"
feeds = ["http://feeds.feedburner.test/rsscna/engnews"]
allowed_domains = ["focustaiwan.test"]
robots_sitemaps = false
every = "2s"
"""


def test_crawls_that_crash_or_hang_are_recorded_failed_and_the_daemon_carries_on(site, start_daemon):
    """A crawl that dies is recorded failed with its exit status, and one that hangs holds nothing up: the
    healthy source is crawled again and again meanwhile. The time limit stays the default (20 min), so
    three crawls starting at once on a loaded machine race nothing; the limit has a test of its own. One
    source to a process: sources sharing one share its fate (test_daemon_batching)."""
    site.stall()
    sources = KYODO_SOURCE.replace('publisher = "kyodo"', 'publisher = "kyodo"\nevery = "2s"') + HANGS_SOURCE \
        + CRASHES_SOURCE
    config = site.config(sources, grace="1s", daemon="max_sources_per_process = 1",
                         crawl='scrapy_settings = { EXTENSIONS = { "crashing_extension.CrashWhenOpened" = 100 }, '
                               'CRASH_SOURCE = "crashes" }')
    daemon = start_daemon(config)
    wait_for(lambda: finished(site.runs(), "crashes", "failed") and finished(site.runs(), "hangs", "running"),
             timeout=60, what="a crashed crawl recorded failed while the hung one runs", log=daemon)
    assert finished(site.runs(), "crashes", "failed")[0].message == "crawl process exited with status 3"
    kyodo_ok = len(finished(site.runs(), "kyodo"))
    wait_for(lambda: len(finished(site.runs(), "kyodo")) >= kyodo_ok + 2, timeout=60,
             what="the healthy source to keep being crawled", log=daemon)
    wait_for(lambda: len(finished(site.runs(), "crashes", "failed")) >= 2, timeout=60,
             what="the crashed source to be tried again on schedule", log=daemon)
    hangs = [run.status for run in site.runs() if run.source.name == "hangs"]
    assert hangs == ["running"], "the hung crawl is still hanging: everything above happened during it"
    assert daemon.terminate()[0] == 0
    assert not [run for run in site.runs() if run.status == "running"]


def test_a_crawl_that_outlives_its_time_limit_is_killed_recorded_failed_and_tried_again(site, start_daemon):
    """The limit counts from the crawl process's start, so the hung crawl is alone here: no crawl that merely
    starts slowly on a loaded machine races it. 10 s is several times what a crawl needs to record its run
    (a crawl killed before that would leave nothing to mark). Scrapy, told to stop, waits for the stalled
    download, so the daemon has to kill the crawl too."""
    site.stall()
    daemon = start_daemon(site.config(HANGS_SOURCE, daemon='crawl_timeout = "10s"', grace="1s"))
    wait_for(lambda: finished(site.runs(), "hangs", "failed"), timeout=90, what="the hung crawl recorded failed",
             log=daemon)
    [failed] = finished(site.runs(), "hangs", "failed")
    assert failed.message == "timed out after 10 s"
    assert "crawl of hangs outlived its 10 s time limit: ending it" in daemon.output()
    wait_for(lambda: len([run for run in site.runs() if run.source.name == "hangs"]) >= 2, timeout=60,
             what="the hung source to be tried again on schedule", log=daemon)
    assert daemon.terminate()[0] == 0


def test_sigterm_during_a_crawl_exits_zero_within_the_grace_period(site, start_daemon):
    """The crawl, told to stop, finishes its in-flight pages (3 s each) and records its own run well within
    the grace period; the daemon then exits 0 without killing anything."""
    site.slow_down_kyodo_articles(delay=3)
    daemon = start_daemon(site.config(KYODO_SOURCE, grace="30s"))
    wait_for(lambda: site.web.requests, timeout=60, what="the crawl's first page (its spider is open)", log=daemon)
    code, took = daemon.terminate(grace=60)
    assert code == 0, daemon.output()[-2000:]
    assert took < 30, "the daemon waited out its grace period"
    assert "did not stop within the grace period" not in daemon.output()
    [run] = site.runs()
    assert (run.status, run.message) == ("interrupted", "interrupted (SIGTERM): stopped after the pages in flight"), \
        "the crawl recorded its own end"


def test_a_second_daemon_refuses_and_a_killed_daemon_leaves_no_stuck_lock(site, start_daemon):
    config = site.config(KYODO_SOURCE)
    first = start_daemon(config)
    wait_for(lambda: "daemon started" in first.output(), timeout=30, what="the first daemon", log=first)
    second = start_daemon(config)
    assert second.process.wait(timeout=30) == 3
    assert "another daemon already runs on this database: pid" in second.output()

    first.kill_with_its_crawls()
    assert kuroshio_in_process(config, "status").stdout.startswith("daemon: not running (it died: last seen pid")
    third = start_daemon(config)
    wait_for(lambda: "daemon started" in third.output(), timeout=30, what="a daemon after the kill", log=third)
    status = kuroshio_in_process(config, "status")
    assert f"daemon: running, pid {third.process.pid}" in status.stdout
    assert third.terminate()[0] == 0
    assert kuroshio_in_process(config, "status").stdout.startswith("daemon: not running\n")


def test_sigkill_during_a_crawl_then_restart_loses_and_duplicates_nothing(site, start_daemon):
    """One article page at a time, 3 s each: the first is stored seconds before the crawl could end, so the
    kill lands in it however slow the machine; the catch-up crawl is served at full speed."""
    site.slow_down_kyodo_articles(delay=3)
    config = site.config(KYODO_SOURCE, crawl="concurrent_per_domain = 1")
    first = start_daemon(config)
    wait_for(lambda: len(site.article_urls()) >= 1, timeout=60, what="a first stored article", log=first)
    first.kill_with_its_crawls()
    assert [run.status for run in site.runs()] == ["running"], "the kill landed during the crawl"
    stored_before_kill = set(site.article_urls())
    assert len(stored_before_kill) < 3

    site.serve_without_delays()
    second = start_daemon(config)
    wait_for(lambda: finished(site.runs(), "kyodo"), timeout=60, what="the catch-up crawl", log=second)
    assert second.terminate()[0] == 0
    runs = site.runs()
    assert [run.status for run in runs] == ["interrupted", "ok"]
    assert set(site.article_urls()) == {f"http://{KYODO}/articles/-/{n}" for n in (38517, 38544, 36871)}
    assert stored_before_kill <= set(site.article_urls())
    urls = site.all_urls()
    assert len(urls) == len(set(urls))


def test_a_one_off_crawl_during_a_scheduled_one_is_refused_clearly(site, start_daemon):
    """The scheduled crawl's article pages take a minute: it is still running however slowly the one-off
    starts; the daemon then ends it after a one-second grace."""
    site.slow_down_kyodo_articles(delay=60)
    config = site.config(KYODO_SOURCE, grace="1s")
    daemon = start_daemon(config)
    wait_for(lambda: any(run.status == "running" for run in site.runs()), timeout=60, what="a scheduled crawl",
             log=daemon)
    one_off = kuroshio(config, "crawl", "--source", "kyodo")
    assert one_off.returncode == 75
    assert "kuroshio: kyodo is already being crawled by pid" in one_off.stderr
    assert len([run for run in site.runs() if run.status == "running"]) == 1
    assert daemon.terminate()[0] == 0


@pytest.mark.parametrize(("grace", "catches_up"), [("2h", True), ("10m", False)])
def test_a_run_missed_while_the_daemon_was_down_is_made_up_once_within_the_grace_time(
    site, start_daemon, grace, catches_up
):
    engine = create_engine_for(site.database_url)
    upgrade_schema(engine)
    long_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    with session_factory(engine)() as session:
        run_id = start_run(session, "kyodo", now=long_ago)
        finish_run(session, run_id, status="ok", pages_fetched=1, articles_new=0, articles_relevant=0,
                   duplicates_skipped=0, errors=[], now=long_ago)
    engine.dispose()
    config = site.config(KYODO_SOURCE.replace('publisher = "kyodo"', 'publisher = "kyodo"\nevery = "2h"'),
                         daemon=f'misfire_grace = "{grace}"')
    started = datetime.now(timezone.utc)
    daemon = start_daemon(config)
    wait_for(lambda: "daemon started" in daemon.output(), timeout=30, what="the daemon", log=daemon)
    [first_run] = re.findall(r"crawl of kyodo scheduled \(.*\), first run (\S+)", daemon.output())
    if catches_up:
        assert datetime.fromisoformat(first_run) < started + timedelta(minutes=1), "made up at start"
        wait_for(lambda: len(finished(site.runs(), "kyodo")) == 2, timeout=60, what="the catch-up run", log=daemon)
    else:
        assert datetime.fromisoformat(first_run) > started + timedelta(hours=1), "left to its next regular time"
        assert "older than the misfire grace time: skipped" in daemon.output()
    # Once nothing runs and the next run is hours away, no other run can come: several missed runs, one catch-up.
    wait_for(lambda: idle_for_an_hour(site.published()), timeout=30, what="the daemon to publish an idle schedule",
             log=daemon)
    assert len(site.runs()) == (2 if catches_up else 1)
    assert daemon.terminate()[0] == 0


def test_a_second_signal_exits_at_once(site, start_daemon):
    """The crawl ignores SIGTERM and its pages take 60 s, the grace period is 60 s: only the second signal
    can end the daemon within the half minute allowed here."""
    site.slow_down_kyodo_articles(delay=60)
    config = site.config(KYODO_SOURCE, grace="60s",
                         crawl='scrapy_settings = { EXTENSIONS = { "crashing_extension.IgnoreSigterm" = 100 } }')
    daemon = start_daemon(config)
    wait_for(lambda: site.web.requests, timeout=60, what="the crawl's first page (its spider is open)", log=daemon)
    daemon.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "stopping: no new runs" in daemon.output(), timeout=30, what="the shutdown to begin", log=daemon)
    assert daemon.process.poll() is None, "the first signal waits for the running crawl"
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=30) == 128 + signal.SIGTERM


class Inbox:
    """What a real SMTP server on 127.0.0.1 accepted."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope.content)
        return "250 OK"


def test_the_daemon_sends_a_digest_that_fell_due_while_it_was_down(site, start_daemon):
    from aiosmtpd.controller import Controller

    from kuroshio.storage.digests import finish_digest_attempt, start_digest_attempt

    inbox = Inbox()
    port = free_port()  # aiosmtpd checks its own port once started, so it cannot be 0
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        sources = KYODO_SOURCE + f"""
[smtp]
host = "127.0.0.1"
port = {port}
sender = "Kuroshio <kuroshio@example.org>"

[[digests]]
name = "minutely"
to = ["analyst@example.org"]
cron = "* * * * *"
timezone = "Asia/Taipei"
"""
        config = site.config(sources)
        assert kuroshio(config, "crawl").returncode == 0  # the archive holds the Ko article
        with site.sessions() as session:
            two_minutes_ago = datetime.now(timezone.utc) - timedelta(minutes=2)
            attempt = start_digest_attempt(session, "minutely", pid=None, now=two_minutes_ago)
            finish_digest_attempt(session, attempt, status="empty", articles_count=0, now=two_minutes_ago)
        daemon = start_daemon(config)
        wait_for(lambda: inbox.messages, timeout=30, what="the catch-up digest", log=daemon)
        message = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
        text = " ".join(message.get_body(("plain",)).get_content().split())  # the text part is wrapped
        assert "Ko calls for deeper cooperation with" in text and f"http://{KYODO}/articles/-/38517" in text
        status = kuroshio_in_process(config, "status")
        assert any(line.startswith("minutely") and " ok " in line for line in status.stdout.splitlines()), status.stdout
        assert daemon.terminate()[0] == 0
        assert len(inbox.messages) == 1
    finally:
        smtp.stop()


@pytest.mark.faults
def test_a_daemon_crawl_and_a_one_off_crawl_write_to_sqlite_at_once(site, start_daemon):
    site.slow_down_kyodo_articles(delay=1)
    sources = KYODO_SOURCE + """
[[sources]]
name = "taiwan-news"
listing_pages = ["http://www.taiwannews.test/en/", "http://www.taiwannews.test/en/politics"]
article_url_pattern = '/(en/)?news/\\d+$'
allowed_domains = ["www.taiwannews.test"]
publisher = "taiwan-news"
"""
    config = site.config(sources)
    config.write_text(config.read_text().replace(
        'publisher = "taiwan-news"', 'publisher = "taiwan-news"\nevery = "2h"'), encoding="utf-8")
    with site.sessions() as session:  # taiwan-news was crawled lately: the daemon leaves it alone
        run_id = start_run(session, "taiwan-news", now=datetime.now(timezone.utc))
        finish_run(session, run_id, status="ok", pages_fetched=0, articles_new=0, articles_relevant=0,
                   duplicates_skipped=0, errors=[], now=datetime.now(timezone.utc))
    daemon = start_daemon(config)
    wait_for(lambda: any(run.status == "running" and run.source.name == "kyodo" for run in site.runs()),
             timeout=60, what="the daemon's kyodo crawl", log=daemon)
    one_off = kuroshio(config, "crawl", "--source", "taiwan-news")
    assert one_off.returncode == 0, one_off.stderr
    assert "database is locked" not in one_off.stderr
    overlapped = [run for run in site.runs() if run.source.name == "kyodo"]
    wait_for(lambda: finished(site.runs(), "kyodo"), timeout=60, what="the kyodo crawl to end", log=daemon)
    assert daemon.terminate()[0] == 0
    assert "database is locked" not in daemon.output()
    assert overlapped and overlapped[0].started_at < finished(site.runs(), "taiwan-news")[-1].finished_at
    urls = site.all_urls()
    assert len(urls) == len(set(urls))
    assert len(site.article_urls()) == 3 + 4  # kyodo's three, taiwan-news's four
