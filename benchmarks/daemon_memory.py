"""Memory over time: a `kuroshio daemon` running many scheduled crawls of a live fixture site.

Why: a monitor runs for months. The daemon starts each crawl as a subprocess, so a leak in Scrapy or
the extraction dies with the crawl; what must stay flat is the daemon itself (APScheduler, leases,
the engine), and each crawl's peak must not creep up with the size of the archive.

One small source (Focus Taiwan through its RSS feed, `every = "1s"`, robots-named sitemaps off) on the
synthetic fixture web. After each finished crawl the feed gains `--new-per-crawl` new articles, as a
live feed does, so every crawl fetches, extracts and stores some pages. Sampled every 0.1 s: the daemon's
VmRSS (/proc/<pid>/status) and each crawl subprocess's VmHWM (its peak so far; the last sample before
it exits is taken as its peak). Printed: the daemon's RSS at crawl 1, 10, 20, ... and its growth from
crawl 10 to the last (target < 10%), and the crawls' peaks.

    .venv/bin/python -m benchmarks.daemon_memory [--crawls 100] [--new-per-crawl 5]
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import KUROSHIO, machine_summary, proc_status_kib, remove_tree, sqlite_url, write_config
from benchmarks.synthetic_web import build_synthetic_web, write_rss_feed
from kuroshio.fixtures.server import FixtureWeb

FEED_WINDOW = 20  # items a live feed keeps
SOURCE_TOML = """
[[sources]]
name = "focus-taiwan"
feeds = ["http://feeds.feedburner.test/rsscna/engnews"]
allowed_domains = ["focustaiwan.test"]
article_url_pattern = '^https?://focustaiwan\\.test/[a-z-]+/\\d{12}$'
publisher = "focus-taiwan"
robots_sitemaps = false
every = "1s"
"""
DAEMON_TOML = '[daemon]\nevery = "1s"\nheartbeat = "2s"\ncrawl_timeout = "5m"\nshutdown_grace = "30s"\n'


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid` (the daemon's crawl subprocesses)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def finished_crawls(database: Path) -> tuple[int, int, int]:
    """(finished runs, ok runs, articles stored) so far."""
    if not database.exists():
        return 0, 0, 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            finished, ok = connection.execute(
                "SELECT count(*), coalesce(sum(status = 'ok'), 0) FROM crawl_runs WHERE status != 'running'").fetchone()
            stored = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0, 0, 0
    return finished, ok, stored


def main(argv: Sequence[str] | None = None) -> None:
    """Run the daemon for `--crawls` crawls, sampling memory, then stop it with SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.daemon_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--crawls", type=int, default=100, help="crawls to run before stopping (default 100)")
    parser.add_argument("--new-per-crawl", type=int, default=5, help="new feed articles after each crawl (default 5)")
    args = parser.parse_args(argv)
    print(machine_summary())
    scratch = Path(tempfile.mkdtemp(prefix="kuroshio-daemon-"))
    try:
        run(scratch, crawls=args.crawls, new_per_crawl=args.new_per_crawl)
    finally:
        remove_tree(scratch)


def run(scratch: Path, *, crawls: int, new_per_crawl: int) -> None:
    """The measurement itself (see the module docstring)."""
    web = build_synthetic_web(scratch / "web", articles=3 * (crawls + 2) * new_per_crawl)
    pages = sorted((page for page in web.pages if page.source == "focus-taiwan"), key=lambda page: page.published_at)
    published = new_per_crawl
    write_rss_feed(web.root, list(reversed(pages[:published]))[:FEED_WINDOW])
    database = scratch / "daemon.db"
    daemon_rss: dict[int, int] = {}
    crawl_peaks: dict[int, int] = {}
    with FixtureWeb(roots=[web.root], keep_alive=True) as fixture_web:
        config = write_config(scratch / "daemon.toml", database_url=sqlite_url(database), proxy=fixture_web.proxy_url,
                              sources_toml=SOURCE_TOML, extra=DAEMON_TOML, concurrency=8)
        with open(scratch / "daemon.log", "wb") as log:
            daemon = subprocess.Popen([*KUROSHIO, "--config", str(config), "--log-level", "INFO", "daemon"],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        started = time.perf_counter()
        finished = ok = stored = 0
        try:
            while finished < crawls and daemon.poll() is None and time.perf_counter() - started < 30 * 60:
                for child in children_of(daemon.pid):
                    peak = proc_status_kib(child, "VmHWM")
                    if peak:
                        crawl_peaks[child] = peak
                now_finished, ok, stored = finished_crawls(database)
                if now_finished > finished:
                    finished = now_finished
                    if finished == 1 or finished % 10 == 0:
                        daemon_rss[finished] = proc_status_kib(daemon.pid, "VmRSS") or 0
                    published = min(len(pages), published + new_per_crawl)
                    write_rss_feed(web.root, list(reversed(pages[:published]))[:FEED_WINDOW])
                time.sleep(0.1)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        elapsed = time.perf_counter() - started
    report(daemon_rss, list(crawl_peaks.values()), finished=finished, ok=ok, stored=stored, elapsed=elapsed,
           exit_code=daemon.returncode, log=scratch / "daemon.log")


def report(daemon_rss: dict[int, int], peaks_kib: list[int], *, finished: int, ok: int, stored: int, elapsed: float,
           exit_code: int | None, log: Path) -> None:
    """Print the samples, the growth, and the crawl peaks."""
    print(f"{finished} crawls finished ({ok} ok) in {elapsed:.0f} s, {stored} articles stored; daemon exit {exit_code}")
    if exit_code not in (0, None) or not daemon_rss:
        print(f"daemon log tail:\n{log.read_text(errors='replace')[-3000:]}")
    print("daemon VmRSS after crawl n: " + ", ".join(f"{n}: {kib / 1024:.1f} MiB" for n, kib in sorted(daemon_rss.items())))
    if 10 in daemon_rss and len(daemon_rss) > 2:
        last = max(daemon_rss)
        growth = (daemon_rss[last] - daemon_rss[10]) / daemon_rss[10]
        print(f"daemon growth from crawl 10 to crawl {last}: {growth:+.1%} (target < 10%)")
    if peaks_kib:
        ordered = [kib / 1024 for kib in peaks_kib]
        tenth = max(1, len(ordered) // 10)
        print(f"crawl subprocess peak RSS over {len(ordered)} crawls: median {statistics.median(ordered):.0f} MiB, "
              f"max {max(ordered):.0f} MiB; first tenth median {statistics.median(ordered[:tenth]):.0f} MiB, "
              f"last tenth median {statistics.median(ordered[-tenth:]):.0f} MiB")


if __name__ == "__main__":
    main()
