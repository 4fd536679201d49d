"""Capacity: one `kuroshio daemon` polling a thousand loopback sources every five minutes.

Why: issue #12 asks whether one 2-core box keeps up with a thousand sources, each polled every five
minutes, a few new articles an hour each. Lateness is what a user would notice: a poll that starts
behind its schedule is news found late. Target: p95 lateness < 30 s.

The fixture web (`fixtures.server.FixtureWeb`, in this process) serves `--sources` sites, one host each
(`s0000.test` ...): an RSS feed honouring validators (so an unchanged poll is a 304) and its articles.
New articles arrive at random, `--new-per-hour` per site per hour on average, each added to its site's
feed. The daemon runs with `every = "5m"` for `--minutes`; then it is stopped (SIGTERM) and read:

- lateness of each poll: its run's `started_at` (written by the crawl process once it has started)
  minus the time it was due: the first run's time from the daemon's log, the later ones on the
  source's grid (`scheduler.phases`). The first round is every source of a new monitor, due at the
  daemon's start and spread by it over `daemon.start_spread` (`--start-spread`, 0 for all at once):
  a staggered first run's due time is its staggered time, so the first round is also reported by how
  long it took to cover every source (from the daemon's start to the last first run's start, and to its
  end), apart from the rounds after it;
- CPU: the daemon's and its crawl processes' (os.wait4 of the daemon, which reaps its crawls), per
  second of the run and as a share of the machine; the fixture web's own CPU is not counted;
- memory: the daemon's peak RSS, and the peak of the daemon and its running crawls together (sampled
  every second).

    .venv/bin/python -m benchmarks.daemon_capacity [--sources 1000] [--minutes 15] [--start-spread 300]
        [--write-results]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

from benchmarks.common import (
    KUROSHIO,
    machine_summary,
    proc_status_kib,
    remove_tree,
    replace_section,
    short_commit,
    sqlite_url,
    write_config,
)
from kuroshio.fixtures.server import FixtureWeb
from kuroshio.scheduler.phases import PhasedIntervalTrigger

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Daemon capacity (issue #12)"
EVERY = 300.0
FEED_ITEMS = 10
TARGET_P95 = 30.0
PARAGRAPH = ("Paragraph {line} of story {number} from {host}: the harbour authority said the new ferry line between "
             "the two ports would carry passengers and freight from the spring, officials confirmed on {day}.")


class Sites:
    """The sites of the fixture web, and their feeds as new articles arrive."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.hosts = [f"s{number:04d}.test" for number in range(count)]
        self.articles: dict[str, list[tuple[int, datetime]]] = {host: [] for host in self.hosts}
        self.added = 0

    def build(self, *, initial: int) -> str:
        """Every site with `initial` articles; the `[[sources]]` crawling them."""
        sources = []
        for host in self.hosts:
            for _ in range(initial):
                self.add_article(host, count=False)
            (self.root / host / "feed.xml.headers.json").write_text('{"conditional": true}', encoding="utf-8")
            sources.append(f'\n[[sources]]\nname = "{host.removesuffix(".test")}"\nfeeds = ["http://{host}/feed.xml"]\n'
                           f'allowed_domains = ["{host}"]\nrobots_sitemaps = false\narticle_url_pattern = "/news/"\n')
        return "".join(sources)

    def add_article(self, host: str, *, count: bool = True) -> None:
        number = len(self.articles[host])
        now = datetime.now(timezone.utc)
        self.articles[host].append((number, now))
        folder = self.root / host / "news"
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(f"<p>{PARAGRAPH.format(line=line, number=number, host=host, day=now.isoformat())}</p>"
                       for line in range(6))
        (folder / f"{number}.html").write_text(
            f'<!DOCTYPE html><html lang="en"><head><title>Story {number} of {host}</title>'
            f'<meta property="article:published_time" content="{now.isoformat()}"></head>'
            f"<body><article><h1>Story {number} of {host}</h1>{body}</article></body></html>", encoding="utf-8")
        items = "".join(f"<item><title>Story {n}</title><link>http://{host}/news/{n}.html</link>"
                        f"<pubDate>{format_datetime(at)}</pubDate></item>"
                        for n, at in reversed(self.articles[host][-FEED_ITEMS:]))
        feed = self.root / host / "feed.xml"
        scratch = feed.with_name("feed.xml.new")
        scratch.write_text(f'<rss version="2.0"><channel><title>{host}</title>{items}</channel></rss>',
                           encoding="utf-8")
        scratch.replace(feed)  # a poll never reads half a feed
        if count:
            self.added += 1

    def publish(self, *, per_hour: float, stop: threading.Event, seed: int = 7) -> None:
        """New articles at random sites, `per_hour` per site per hour on average, until `stop`."""
        rng = random.Random(seed)
        rate = per_hour * len(self.hosts) / 3600
        while not stop.wait(rng.expovariate(rate)):
            self.add_article(rng.choice(self.hosts))


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (its crawls and their extraction workers, if any)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found += children
            frontier += children
    return found


def stored_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc) if value else None


def lateness(database: Path, log: str, *, every: float) -> dict:
    """Seconds behind schedule of each poll, the first round's and the later ones'; sources per process;
    seconds from the daemon's start (its first due time) to the last first run's start and end."""
    first_due = {name: datetime.fromisoformat(when)
                 for name, when in re.findall(r"crawl of (\S+) scheduled \(.*?\), first run (\S+)", log)}
    first, later, per_process = [], [], {}
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT sources.name, crawl_runs.started_at, crawl_runs.finished_at, crawl_runs.pid "
                                  "FROM crawl_runs JOIN sources ON sources.id = crawl_runs.source_id "
                                  "ORDER BY crawl_runs.started_at")
        runs: dict[str, list[datetime]] = {}
        first_ends: dict[str, datetime | None] = {}
        for name, started, finished, pid in rows:
            runs.setdefault(name, []).append(stored_time(started))
            first_ends.setdefault(name, stored_time(finished))
            per_process[pid] = per_process.get(pid, 0) + 1
    start = min(first_due.values())
    uncovered = len(first_due) - len(runs)
    covered = max(starts[0] for starts in runs.values()) - start if not uncovered else None
    ends = [end for end in first_ends.values() if end is not None]
    done = max(ends) - start if not uncovered and len(ends) == len(first_ends) else None
    for name, starts in runs.items():
        trigger = PhasedIntervalTrigger(name, seconds=every)
        due = first_due[name]
        for position, started in enumerate(starts):
            if position:
                while (following := trigger.get_next_fire_time(due, due)) is not None and following <= started:
                    due = following
            (later if position else first).append((started - due).total_seconds())
    return {"first": first, "later": later, "per_process": per_process, "uncovered": uncovered,
            "first_round_started": covered.total_seconds() if covered is not None else None,
            "first_round_done": done.total_seconds() if done is not None else None,
            "window": (max(first_due.values()) - start).total_seconds()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure(args: argparse.Namespace, scratch: Path) -> dict:
    root = scratch / "web"
    root.mkdir()
    sites = Sites(root, args.sources)
    sources = sites.build(initial=args.initial)
    database = scratch / "kuroshio.db"
    log_path = scratch / "daemon.log"
    with FixtureWeb(roots=[root]) as web:
        config = write_config(
            scratch / "kuroshio.toml", database_url=sqlite_url(database), proxy=web.proxy_url, sources_toml=sources,
            concurrency=2,
            extra=f'[daemon]\nevery = "{int(args.every)}s"\nmax_crawl_processes = {args.max_crawl_processes}\n'
                  f"max_sources_per_process = {args.max_sources_per_process}\n"
                  f'start_spread = "{int(args.start_spread)}s"\n')
        stop = threading.Event()
        publisher = threading.Thread(target=sites.publish, kwargs={"per_hour": args.new_per_hour, "stop": stop})
        with log_path.open("wb") as log:
            daemon = subprocess.Popen([*KUROSHIO, "--log-level", "INFO", "--config", str(config), "daemon"],
                                      stdout=log, stderr=log)
        started = time.monotonic()
        publisher.start()
        daemon_peak = total_peak = 0
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(1.0)
            own = proc_status_kib(daemon.pid, "VmRSS") or 0
            crawls = sum(proc_status_kib(pid, "VmRSS") or 0 for pid in descendants(daemon.pid))
            daemon_peak, total_peak = max(daemon_peak, own), max(total_peak, own + crawls)
        seconds = time.monotonic() - started
        stop.set()
        publisher.join()
        daemon.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(daemon.pid, 0)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    schedule = lateness(database, log_text, every=args.every)
    with sqlite3.connect(database) as connection:
        statuses = dict(connection.execute("SELECT status, count(*) FROM crawl_runs GROUP BY status").fetchall())
        articles = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "daemon_peak_mib": daemon_peak / 1024,
            "total_peak_mib": total_peak / 1024, **schedule,
            "statuses": statuses, "articles": articles, "published": sites.added, "exit": os.waitstatus_to_exitcode(status),
            "waiting_warnings": log_text.count("still waiting for a crawl process")}


def report(args: argparse.Namespace, result: dict) -> str:
    polls = result["first"] + result["later"]
    processes = len(result["per_process"])
    cores = os.cpu_count() or 1
    rows = [("first round (due at the daemon's start, staggered over start_spread)", result["first"]),
            ("later rounds (each source on its own place in the interval)", result["later"]),
            ("all polls", polls)]
    verdicts = "; ".join(f"{label}: {'held' if values and percentile(values, 0.95) < TARGET_P95 else 'missed'}"
                         for label, values in (("first round", result["first"]), ("later rounds", result["later"]),
                                               ("all polls", polls)))
    covered = result["first_round_started"]
    coverage = (f"The first round covered all {args.sources:,} sources in {covered:.0f} s (the daemon's start to "
                f"the last first run's start; the last first run was due {result['window']:.0f} s after the start) "
                + (f"and had crawled them all {result['first_round_done']:.0f} s after the start."
                   if result["first_round_done"] is not None else "(some first runs never ended).")
                if covered is not None else f"The first round did not cover {result['uncovered']:,} sources.")
    lines = [
        SECTION, "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on commit `{short_commit()}` with "
        f"`.venv/bin/python -m benchmarks.daemon_capacity --sources {args.sources} --minutes {args.minutes:g} --every {args.every:g} "
        f"--start-spread {args.start_spread:g} --write-results`.", "",
        f"**Machine.** {machine_summary()}.", "",
        f"**Setup.** {args.sources:,} sources, one loopback fixture host each (name-based, through the fixture "
        f"web's proxy), each an RSS feed honouring validators and {args.initial} article(s) at the start; "
        f"`every = \"{int(args.every)}s\"`, `max_crawl_processes = {args.max_crawl_processes}`, "
        f"`max_sources_per_process = {args.max_sources_per_process}`, `start_spread = \"{int(args.start_spread)}s\"`, "
        "SQLite store, robots.txt obeyed. New "
        f"articles arrive at random, {args.new_per_hour:g} per site per hour ({result['published']:,} during the "
        f"run). The daemon ran {result['seconds'] / 60:.1f} minutes (SIGTERM after, exit {result['exit']}): "
        f"{len(polls):,} polls in {processes:,} crawl processes ({len(polls) / max(processes, 1):.1f} sources "
        f"each), {result['articles']:,} articles stored; runs {result['statuses']}. Lateness is a run's start "
        "(recorded by its crawl process once started) minus its due time; a first run's due time is the one the "
        "daemon logged for it, for a staggered first run its staggered time, not the daemon's start. "
        "Target: p95 lateness < 30 s.", "",
        "| polls | count | p50 lateness | p95 lateness | max lateness |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, values in rows:
        lines.append(f"| {label} | {len(values):,} | {percentile(values, 0.5):.1f} s | "
                     f"{percentile(values, 0.95):.1f} s | {max(values, default=float('nan')):.1f} s |")
    lines += [
        "",
        f"CPU (daemon and crawl processes): {result['cpu']:,.0f} s in {result['seconds']:,.0f} s, "
        f"{result['cpu'] / result['seconds'] / cores:.0%} of the machine's {cores} cores "
        f"({result['cpu'] / max(len(polls), 1) * 1000:,.0f} ms per poll). Peak RSS: daemon "
        f"{result['daemon_peak_mib']:.0f} MiB; daemon and its running crawls together "
        f"{result['total_peak_mib']:.0f} MiB. Polls that waited for a process (WARNING lines): "
        f"{result['waiting_warnings']}.", "",
        coverage, "",
        f"Verdicts (p95 lateness < 30 s): {verdicts}.", "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--every", type=float, default=EVERY, help="seconds between polls of a source")
    parser.add_argument("--initial", type=int, default=1, help="articles per site at the start")
    parser.add_argument("--new-per-hour", type=float, default=3.0, help="new articles per site per hour")
    parser.add_argument("--max-crawl-processes", type=int, default=4)
    parser.add_argument("--max-sources-per-process", type=int, default=20)
    parser.add_argument("--start-spread", type=float, default=300.0,
                        help="seconds over which the sources due at start are spread (daemon.start_spread); 0: at once")
    parser.add_argument("--write-results", action="store_true", help=f"replace the '{SECTION}' section of RESULTS.md")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kuroshio-capacity-"))
    try:
        section = report(args, measure(args, scratch))
    finally:
        remove_tree(scratch)
    print(section)
    if args.write_results:
        RESULTS.write_text(replace_section(RESULTS.read_text(encoding="utf-8"), section), encoding="utf-8")


if __name__ == "__main__":
    main()
