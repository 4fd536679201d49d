"""Crawls as Scrapyd jobs on two real Scrapyd nodes sharing one PostgreSQL store (`kuroshio.scheduler.scale`).

Two `scrapyd` processes on free 127.0.0.1 ports, each with its own folders, get the project the way
README's "Running on several machines" says (`scrapyd-deploy -a` from contrib/scrapyd/), and run the
crawls the dispatcher sends them against the fixture web. Sources are small sites whose article pages
answer slowly, so a crawl lasts long enough for a node to be killed under it (SIGKILL to its process
group: Scrapyd and its crawl processes). Needs PostgreSQL: SQLite cannot be shared by several machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from databases import POSTGRES_MARKS, POSTGRES_URL, reset_postgres_schema
from fixture_web import free_port, kuroshio_in_process

from kuroshio.fixtures.server import FixtureWeb
from kuroshio.scheduler.locks import crawl_lease, holder
from kuroshio.scheduler.scale import KILL_WAIT, ScrapydClient, ScrapydDispatcher
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleURL, CrawlRun, Source

pytestmark = POSTGRES_MARKS

REPOSITORY = Path(__file__).resolve().parents[2]
SCRAPYD_DEPLOY = Path(sys.executable).parent / "scrapyd-deploy"
SOURCES = 6
ARTICLES_PER_SITE = 3
LAST_PAGE_DELAYS = 5


class Node:
    """A real Scrapyd on 127.0.0.1, in a session of its own (killed with its crawls at once)."""

    def __init__(self, folder: Path, config: Path) -> None:
        folder.mkdir()
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "scrapyd.conf").write_text(
            f"[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = {self.port}\neggs_dir = {folder / 'eggs'}\n"
            f"logs_dir = {folder / 'logs'}\ndbs_dir = {folder / 'dbs'}\nmax_proc = 4\npoll_interval = 0.2\n"
            "jobs_to_keep = 100\n", encoding="utf-8")
        environment = {**os.environ, "KUROSHIO_CONFIG": str(config)}
        environment.pop("KUROSHIO_DATABASE_URL", None)
        with (folder / "scrapyd.log").open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "scrapyd", "--nodaemon"], cwd=folder, env=environment,
                                            stdout=log, stderr=log, start_new_session=True)

    def status(self) -> dict | None:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{self.url}/daemonstatus.json", timeout=2) as response:
                return json.loads(response.read())
        return None

    def kill(self) -> None:
        """SIGKILL to Scrapyd and every crawl it runs, as a machine that dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def logs(self) -> str:
        texts = [path.read_text(errors="replace")[-2000:] for path in sorted(self.folder.rglob("*.log"))]
        return "\n".join(texts)


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, nodes: list[Node] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {node.url} ---\n{node.logs()}" for node in nodes)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FixtureWeb, Path, list[Node]]]:
    """The fixture web of SOURCES sites, a config naming them and two deployed Scrapyd nodes."""
    reset_postgres_schema(POSTGRES_URL)
    overlay = tmp_path / "overlay"
    with FixtureWeb(roots=[overlay]) as web:
        config = tmp_path / "kuroshio.toml"
        sources = "".join(add_site(overlay, number) for number in range(SOURCES))
        config.write_text(f'[storage]\nurl = "{POSTGRES_URL}"\n\n[crawl]\nproxy = "{web.proxy_url}"\n'
                          "download_delay = 0.0\nautothrottle = false\ntimeout = 30\nretry_times = 0\n"
                          "max_age = \"0s\"\n\n[scale]\nscrapyd = []\n" + sources, encoding="utf-8")
        config.chmod(0o600)
        nodes = [Node(tmp_path / f"node{number}", config) for number in (1, 2)]
        try:
            for node in nodes:
                wait_for(node.status, timeout=60, what=f"Scrapyd on {node.url}", nodes=nodes)
            deploy(tmp_path / "deploy", nodes)
            yield web, config, nodes
        finally:
            for node in nodes:
                node.kill()


def add_site(overlay: Path, number: int | str, *, delay: float = 1.5) -> str:
    """A site with a feed and ARTICLES_PER_SITE article pages answering after `delay` seconds, the last
    after LAST_PAGE_DELAYS times that, so that a crawl which has stored its first articles still has a
    page in flight for seconds (its pages are fetched at once: on a busy machine the first store was seen
    just as the crawl ended); its `[[sources]]` entry."""
    host = f"site-{number}.test"
    now = datetime.now(timezone.utc)
    items = []
    for article in range(ARTICLES_PER_SITE):
        page = overlay / host / "news" / f"{article}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        paragraphs = "".join(f"<p>Paragraph {line} of story {article} from {host}: the harbour authority said the "
                             "new ferry line between the two ports would carry passengers and freight.</p>"
                             for line in range(6))
        page.write_text(f"<!DOCTYPE html><html lang=\"en\"><head><title>Story {article} of {host}</title>"
                        f"<meta property=\"article:published_time\" content=\"{now.isoformat()}\"></head><body>"
                        f"<article><h1>Story {article} of {host}</h1>{paragraphs}</article></body></html>",
                        encoding="utf-8")
        last = article == ARTICLES_PER_SITE - 1
        page.with_name(page.name + ".headers.json").write_text(
            json.dumps({"delay": delay * LAST_PAGE_DELAYS if last else delay}), encoding="utf-8")
        items.append(f"<item><title>Story {article}</title><link>http://{host}/news/{article}.html</link>"
                     f"<pubDate>{now:%a, %d %b %Y %H:%M:%S} +0000</pubDate></item>")
    (overlay / host / "feed.xml").write_text(
        f"<rss version=\"2.0\"><channel><title>{host}</title>{''.join(items)}</channel></rss>", encoding="utf-8")
    return (f'\n[[sources]]\nname = "site-{number}"\nfeeds = ["http://{host}/feed.xml"]\n'
            f'allowed_domains = ["{host}"]\nrobots_sitemaps = false\n')


def deploy(folder: Path, nodes: list[Node]) -> None:
    """README's way: contrib/scrapyd/ with a [deploy:NAME] per node, then `scrapyd-deploy -a`."""
    shutil.copytree(REPOSITORY / "contrib" / "scrapyd", folder)
    targets = "".join(f"\n[deploy:node{number}]\nurl = {node.url}/\nproject = kuroshio\n"
                      for number, node in enumerate(nodes, 1))
    with (folder / "scrapy.cfg").open("a", encoding="utf-8") as cfg:
        cfg.write(targets)
    for number in range(1, len(nodes) + 1):
        deployed = subprocess.run([str(SCRAPYD_DEPLOY), f"node{number}", "-p", "kuroshio"], cwd=folder,
                                  capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0 and '"status": "ok"' in deployed.stdout, deployed.stdout + deployed.stderr


def store(config: Path):
    engine = create_engine_for(POSTGRES_URL)
    upgrade_schema(engine)
    return session_factory(engine)


def runs(sessions) -> list[CrawlRun]:
    with sessions() as session:
        return list(session.query(CrawlRun).order_by(CrawlRun.id))


def assert_every_article_stored_once(sessions) -> None:
    expected = {f"http://site-{site}.test/news/{article}.html"
                for site in range(SOURCES) for article in range(ARTICLES_PER_SITE)}
    with sessions() as session:
        articles = [article.url for article in session.query(Article)]
        urls = [row.url for row in session.query(ArticleURL)]
    assert sorted(articles) == sorted(expected)
    assert sorted(urls) == sorted(expected)


def dispatcher(nodes: list[Node], sessions, stopping: threading.Event) -> ScrapydDispatcher:
    return ScrapydDispatcher([node.url for node in nodes], sessions, stopping=stopping, crawl_timeout=600,
                             shutdown_grace=30, poll_interval=0.2, node_retry=600)


def test_jobs_spread_over_both_nodes_and_store_every_article_once(cluster):
    web, config, nodes = cluster
    sessions = store(config)

    dispatcher(nodes, sessions, threading.Event()).crawl([f"site-{number}" for number in range(SOURCES)])

    recorded = runs(sessions)
    assert sorted(run.source.name for run in recorded) == sorted(f"site-{number}" for number in range(SOURCES))
    assert all(run.status == "ok" for run in recorded), [(run.source.name, run.status, run.message) for run in recorded]
    assert {run.node for run in recorded} == {node.url for node in nodes}
    assert all(run.job and run.host for run in recorded)
    assert_every_article_stored_once(sessions)
    listing = kuroshio_in_process(config, "runs", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    assert {record["node"] for record in json.loads(listing.stdout)} == {node.url for node in nodes}


def test_a_node_killed_mid_crawl_loses_and_doubles_nothing(cluster):
    web, config, nodes = cluster
    sessions = store(config)
    doomed, survivor = nodes
    stopping = threading.Event()
    crawl = threading.Thread(target=dispatcher(nodes, sessions, stopping).crawl,
                             args=([f"site-{number}" for number in range(SOURCES)],))
    crawl.start()
    try:
        # Killed once a crawl on it has stored an article and has more to fetch: mid-crawl for sure.
        wait_for(lambda: _stored_some(sessions, doomed.url),
                 timeout=120, what="a crawl on the doomed node with an article stored", nodes=nodes)
        doomed.kill()
        crawl.join(timeout=300)
        assert not crawl.is_alive(), "the dispatcher did not finish after the node died"
    finally:
        stopping.set()
        crawl.join(timeout=60)

    recorded = runs(sessions)
    killed = [run for run in recorded if run.node == doomed.url and run.status != "ok"]
    assert killed and all(run.status == "interrupted" for run in killed), \
        [(run.source.name, run.status, run.message) for run in recorded]
    for run in killed:  # each crawled again, to its end, on the node left
        assert any(again.source.name == run.source.name and again.node == survivor.url and again.status == "ok"
                   and again.id > run.id for again in recorded)
    assert not any(run.status == "running" for run in recorded)
    assert_every_article_stored_once(sessions)
    listing = kuroshio_in_process(config, "runs", "--limit", "all")
    assert listing.returncode == 0, listing.stderr
    assert doomed.url in listing.stdout and survivor.url in listing.stdout


def _stored_some(sessions, node: str) -> bool:
    """Whether a crawl still running on `node` has stored an article (the pipeline writes every 2 s)."""
    with sessions() as session:
        running = [run.id for run in session.query(CrawlRun).filter(CrawlRun.node == node,
                                                                    CrawlRun.status == "running")]
        return bool(running) and session.query(Article).filter(Article.crawl_run_id.in_(running)).count() > 0


class SteppedClock:
    """The dispatcher's monotonic clock, moved on by the test: a time limit or a grace period passes when
    the test has seen the crawl in the state it means to cut short, not after a sleep."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead


def test_a_job_past_its_time_limit_is_cancelled_and_its_run_recorded_failed_at_once(cluster, tmp_path):
    web, config, nodes = cluster
    slow_downloads(config)
    with config.open("a", encoding="utf-8") as entries:  # a node reads the config when a job starts
        entries.write(add_site(tmp_path / "overlay", "slow", delay=600))
    sessions = store(config)
    clock = SteppedClock()
    crawler = ScrapydDispatcher([node.url for node in nodes], sessions, stopping=threading.Event(),
                                crawl_timeout=600, shutdown_grace=30, poll_interval=0.2, node_retry=600, clock=clock)
    crawl = threading.Thread(target=crawler.crawl, args=(["site-slow"],))
    crawl.start()
    try:
        wait_for(lambda: _fetching_articles(web, sessions, "site-slow"), timeout=120,
                 what="the crawl of site-slow waiting on its article pages", nodes=nodes)
        clock.ahead = 601  # past crawl_timeout: the dispatcher cancels the job (TERM) and records its run
        # Well within the lease's life: today's run, not the dead-run rule's verdict once the lease expired.
        wait_for(lambda: _ended(sessions, "site-slow"), timeout=30, what="the timed-out run recorded", nodes=nodes)
        (run,) = runs(sessions)
        assert (run.status, run.message) == ("failed", "timed out after 600 s")
        assert _lease(sessions, "site-slow") is None
        listing = kuroshio_in_process(config, "runs", "--format", "json")
        assert listing.returncode == 0, listing.stderr
        assert [(record["status"], record["message"]) for record in json.loads(listing.stdout)] == \
            [("failed", "timed out after 600 s")]
        clock.ahead += KILL_WAIT + 1  # the job lingers on its pages in flight: killed
        crawl.join(timeout=60)
        assert not crawl.is_alive(), "the dispatcher did not return after killing the job"
    finally:
        crawler.stopping.set()
        crawl.join(timeout=60)
    wait_for(lambda: _node_jobs(run.node)[run.job] == "finished", timeout=30, what="the job gone from its node",
             nodes=nodes)
    (run,) = runs(sessions)
    assert (run.status, run.message) == ("failed", "timed out after 600 s")


def test_a_daemon_stopping_cancels_its_jobs_and_records_their_runs_interrupted(cluster, tmp_path):
    web, config, nodes = cluster
    slow_downloads(config)
    with config.open("a", encoding="utf-8") as entries:
        # calm stops within the grace period, slow does not (its pages answer after ten minutes).
        entries.write(add_site(tmp_path / "overlay", "calm", delay=5) + add_site(tmp_path / "overlay", "slow",
                                                                                 delay=600))
    sessions = store(config)
    clock = SteppedClock()
    stopping = threading.Event()
    crawler = ScrapydDispatcher([node.url for node in nodes], sessions, stopping=stopping, crawl_timeout=600,
                                shutdown_grace=30, poll_interval=0.2, node_retry=600, clock=clock)
    crawl = threading.Thread(target=crawler.crawl, args=(["site-calm", "site-slow"],))
    crawl.start()
    try:
        wait_for(lambda: all(_fetching_articles(web, sessions, name) for name in ("site-calm", "site-slow")),
                 timeout=120, what="both crawls waiting on their article pages", nodes=nodes)
        stopping.set()  # the daemon's clean shutdown: every job cancelled (INT), a grace period to stop
        wait_for(lambda: _ended(sessions, "site-calm"), timeout=60, what="site-calm's job stopping", nodes=nodes)
        assert crawl.is_alive()  # site-slow still has its grace period
        clock.ahead = 31  # past shutdown_grace: site-slow's job is killed
        crawl.join(timeout=60)
        assert not crawl.is_alive(), "the dispatcher did not return after the grace period"
    finally:
        stopping.set()
        crawl.join(timeout=60)

    recorded = {run.source.name: run for run in runs(sessions)}
    assert recorded["site-calm"].status == "interrupted"
    assert recorded["site-calm"].message.startswith("interrupted (cancelled)")  # recorded by the job itself
    assert (recorded["site-slow"].status, recorded["site-slow"].message) == \
        ("interrupted", "daemon shut down during the crawl")
    assert _lease(sessions, "site-calm") is None and _lease(sessions, "site-slow") is None
    wait_for(lambda: not any(state in ("pending", "running") for node in nodes for state in _node_jobs(node.url).values()),
             timeout=30, what="no job left on the nodes", nodes=nodes)


def slow_downloads(config: Path) -> None:
    """A download timeout beyond every page's delay: a page in flight holds its job until it is killed."""
    config.write_text(config.read_text(encoding="utf-8").replace("timeout = 30\n", "timeout = 900\n"),
                      encoding="utf-8")


def _fetching_articles(web: FixtureWeb, sessions, source: str) -> bool:
    """Whether `source`'s run is recorded and its feed answered: its article pages asked for, or about to be."""
    host = f"{source}.test"
    with sessions() as session:
        running = session.query(CrawlRun).join(CrawlRun.source).filter(
            Source.name == source, CrawlRun.status == "running").count()
    return bool(running) and any(request.host == host and request.path == "/feed.xml" for request in web.requests)


def _ended(sessions, source: str) -> bool:
    with sessions() as session:
        return session.query(CrawlRun).join(CrawlRun.source).filter(
            Source.name == source, CrawlRun.status != "running").count() > 0


def _lease(sessions, source: str):
    with sessions() as session:
        return holder(session, crawl_lease(source))


def _node_jobs(node: str) -> dict[str, str]:
    return ScrapydClient().jobs(node)


def test_the_daemon_with_scrapyd_nodes_configured_crawls_every_source_on_them(cluster, tmp_path):
    """`[scale] scrapyd` in the config is all it takes: the real `kuroshio daemon` dispatches each due source
    as a job on the nodes instead of a local process, and stops cleanly on SIGTERM."""
    web, config, nodes = cluster
    config.write_text(config.read_text(encoding="utf-8").replace(
        "scrapyd = []", "scrapyd = [" + ", ".join(f'"{node.url}"' for node in nodes) + "]"), encoding="utf-8")
    sessions = store(config)
    log = tmp_path / "daemon.log"
    with log.open("ab") as stream:
        daemon = subprocess.Popen([sys.executable, "-m", "kuroshio.scheduler", "--log-level", "INFO",
                                   "--config", str(config), "daemon"], stdout=stream, stderr=stream,
                                  env={**os.environ, "PYTHONFAULTHANDLER": "1"}, start_new_session=True)
    try:
        wait_for(lambda: sum(run.status == "ok" for run in runs(sessions)) == SOURCES, timeout=300,
                 what="an ok run of every source, by the daemon", nodes=nodes)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=10)

    recorded = runs(sessions)
    assert sorted(run.source.name for run in recorded) == sorted(f"site-{number}" for number in range(SOURCES))
    assert {run.node for run in recorded} <= {node.url for node in nodes} and all(run.job for run in recorded)
    assert_every_article_stored_once(sessions)
    output = log.read_text(errors="replace")
    assert "daemon stopped" in output and "Traceback" not in output
