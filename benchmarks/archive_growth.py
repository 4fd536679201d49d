"""Archive growth: a crawl's start-up time and peak memory with a small and a large archive, measured in
one run (issue #12, item 5; target: within 10% of each other).

A crawl used to load every stored URL into a set before its first request (133,000 URLs at 100,000
articles, growing forever); it now asks the store only about the links it discovers. Setup: two SQLite
stores, one of `--small` and one of `--large` articles (default 1,000 and 1,000,000; 4 URLs for every 3
articles, as crawls leave them), written by bulk inserts; each is then crawled `--crawls` times over the
bundled fixture web (the three demo sources, through the fixture proxy), the crawl pinned to one CPU and
the fixture web on the other. The first crawl of each store fetches and stores the web's dozen articles,
the next ones find them known.

Per crawl: start-up — from launching `kuroshio crawl` to the first request the fixture web answers
(imports, schema check, run records, and formerly the load of every stored URL), and the CPU spent
before the first engine starts (`benchmarks.poll_probe`; steadier than wall time on a shared machine) —,
peak RSS of the crawl process (wait4), its CPU and wall time. Medians are printed, with large ÷ small.

    .venv/bin/python -m benchmarks.archive_growth [--small 1000] [--large 1000000] [--crawls 3] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.common import (
    KUROSHIO,
    REPO,
    crawl_cpus,
    machine_summary,
    replace_section,
    run_measured,
    short_commit,
    sqlite_url,
)
from kuroshio.fixtures.server import DEMO_CONFIG, FixtureWeb
from kuroshio.storage.engine import create_engine_for, upgrade_schema

RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Archive growth (issue #12)"
TARGET_SPREAD = 0.10
FILL_CHUNK = 50_000


@dataclass(frozen=True)
class Crawl:
    """One measured crawl."""

    startup_ms: float
    startup_cpu_ms: float
    peak_rss_mib: float
    cpu_ms: float
    wall_ms: float


def fill_archive(path: Path, articles: int) -> float:
    """A store of `articles` articles of one source, with an alias URL for every third; seconds it took.

    Written through sqlite3 in one transaction of bulk inserts (the schema made by the migrations first),
    which builds a million articles in about a minute where the ORM would take an hour."""
    started = time.perf_counter()
    engine = create_engine_for(sqlite_url(path))
    upgrade_schema(engine)
    engine.dispose()
    seen_at = datetime(2025, 1, 1, tzinfo=timezone.utc).isoformat(sep=" ")
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("INSERT INTO sources (id, name) VALUES (1, 'archive')")
        for start in range(1, articles + 1, FILL_CHUNK):
            numbers = range(start, min(start + FILL_CHUNK, articles + 1))
            connection.executemany(
                "INSERT INTO articles (id, source_id, url, canonical_url, title, authors, text, partial, "
                "content_sha256, first_seen_at, published_at) VALUES (?, 1, ?, ?, 'An old story', '[]', "
                "'The text of an old story.', 0, ?, ?, ?)",
                ((n, f"https://archive.test/news/{n}", f"https://archive.test/news/{n}", f"{n:064x}", seen_at, seen_at)
                 for n in numbers))
            connection.executemany("INSERT INTO article_urls (article_id, url) VALUES (?, ?)",
                                   ((n, f"https://archive.test/news/{n}") for n in numbers))
            connection.executemany("INSERT INTO article_urls (article_id, url) VALUES (?, ?)",
                                   ((n, f"https://archive.test/news/{n}?ref=rss") for n in numbers if n % 3 == 0))
    return time.perf_counter() - started


def crawl_config(folder: Path, *, database: Path, proxy: str, probe: Path) -> Path:
    """The demo config (the three sources of the bundled fixture web) on `database`, through `proxy`, with
    `benchmarks.poll_probe` recording into `probe`."""
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace("[crawl]\n", f'[crawl]\nproxy = "{proxy}"\n', 1)
    text = text.replace("scrapy_settings = { KUROSHIO_HOSTS = {} }", "scrapy_settings = { KUROSHIO_HOSTS = {}, "
                        f'EXTENSIONS = {{ "benchmarks.poll_probe.PollProbe" = 100 }}, POLL_PROBE_RECORD = "{probe}" }}')
    config = folder / f"{database.stem}.toml"
    config.write_text(f'[storage]\nurl = "{sqlite_url_keep(database)}"\n\n{text}', encoding="utf-8")
    config.chmod(0o600)
    return config


def sqlite_url_keep(path: Path) -> str:
    """The SQLAlchemy URL of an existing SQLite file (`common.sqlite_url` removes the file)."""
    return f"sqlite:///{path.resolve()}"


def crawl(config: Path, web: FixtureWeb, probe: Path, *, cpus: set[int] | None) -> Crawl:
    web.clear_log()
    probe.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    launched = time.time()
    measured = run_measured([*KUROSHIO, "--config", str(config), "crawl"], cpus=cpus, env=env)
    if measured.returncode != 0:
        raise SystemExit(f"the crawl failed (exit {measured.returncode}):\n{measured.stdout}\n{measured.stderr}")
    first_answer = min(request.at for request in web.requests)
    engines = [json.loads(line) for line in probe.read_text(encoding="utf-8").splitlines()]
    return Crawl(startup_ms=(first_answer - launched) * 1000,
                 startup_cpu_ms=min(engine["started_cpu"] for engine in engines) * 1000,
                 peak_rss_mib=measured.max_rss_mib,
                 cpu_ms=measured.cpu_seconds * 1000, wall_ms=measured.seconds * 1000)


# What every crawl did before its first request until issue #12, item 2 (the former
# `storage.articles.known_urls`), run alone in a fresh interpreter: its time and the memory it kept.
FORMER_LOAD = """
import json, sys, time
from pathlib import Path
from sqlalchemy import select
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import ArticleURL

def rss_kib():
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmRSS:"))

with session_factory(create_engine_for(sys.argv[1]))() as session:
    session.scalars(select(ArticleURL.url).limit(1)).all()  # connected, the statement compiled
    before, started, cpu = rss_kib(), time.perf_counter(), time.process_time()
    known = set(session.scalars(select(ArticleURL.url)))
    print(json.dumps({"urls": len(known), "ms": (time.perf_counter() - started) * 1000,
                      "cpu_ms": (time.process_time() - cpu) * 1000, "mib": (rss_kib() - before) / 1024}))
"""


def former_load(database: Path, *, cpus: set[int] | None) -> dict[str, float]:
    """What loading every stored URL, as crawls did before their first request, costs on `database`."""
    measured = run_measured([sys.executable, "-c", FORMER_LOAD, sqlite_url_keep(database)], cpus=cpus)
    if measured.returncode != 0:
        raise SystemExit(f"the former load failed:\n{measured.stderr}")
    return json.loads(measured.stdout)


FIGURES = (("start-up (launch to first request)", "startup_ms", "ms"), ("peak RSS", "peak_rss_mib", "MiB"),
           ("start-up CPU (to the first engine's start)", "startup_cpu_ms", "ms"),
           ("CPU", "cpu_ms", "ms"), ("wall", "wall_ms", "ms"))


def median(crawls: Sequence[Crawl], field: str) -> float:
    return statistics.median(getattr(c, field) for c in crawls)


def table(results: dict[int, list[Crawl]]) -> list[str]:
    small, large = sorted(results)
    lines = [f"| per crawl (median) | {small:,} articles | {large:,} articles | large ÷ small |",
             "| --- | ---: | ---: | ---: |"]
    for label, field, unit in FIGURES:
        low, high = median(results[small], field), median(results[large], field)
        lines.append(f"| {label} | {low:,.0f} {unit} | {high:,.0f} {unit} | **{high / low:.3f}** |")
    return lines


def former_lines(former: dict[int, dict[str, float]]) -> list[str]:
    """What the former start-up load cost on each store, for comparison."""
    return [f"- {size:,} articles: {load['urls']:,.0f} URLs in {load['ms']:,.0f} ms ({load['cpu_ms']:,.0f} ms CPU), "
            f"{load['mib']:,.0f} MiB kept" for size, load in sorted(former.items())]


def section(results: dict[int, list[Crawl]], *, fill_seconds: dict[int, float], crawls: int, commit: str,
            former: dict[int, dict[str, float]]) -> str:
    small, large = sorted(results)
    verdicts = []
    for label, field, _ in FIGURES[:3]:
        spread = median(results[large], field) / median(results[small], field) - 1
        verdicts.append(f"{label} {spread:+.1%}: {'held' if abs(spread) <= TARGET_SPREAD else 'missed'}")
    return "\n".join([
        SECTION, "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on commit `{commit}` with "
        "`.venv/bin/python -m benchmarks.archive_growth --write-results`.", "",
        f"**Machine.** {machine_summary()}.", "",
        f"**Setup.** Two SQLite stores of {small:,} and {large:,} articles (4 URLs for 3 articles; built by bulk "
        f"inserts in {fill_seconds[small]:.0f} s and {fill_seconds[large]:.0f} s), each crawled {crawls} times "
        "over the bundled fixture web (three sources; the first crawl stores its dozen articles, the next find "
        "them known), the crawl pinned to one CPU. Start-up is the time from launching `kuroshio crawl` to the "
        "first request the fixture web answers. Target: within 10% of each other.", "",
        *table(results), "",
        "Verdicts (within 10%): " + "; ".join(verdicts) + ".", "",
        "Before issue #12, item 2, every crawl loaded all stored URLs into a set before its first request; "
        "now it asks the store only about the links it discovers (indexed lookups of at most 500 URL forms), "
        "so neither figure follows the archive. What that load alone costs on the same two stores (the former "
        "`known_urls`, measured in a fresh interpreter; the crawl added it to its start-up and peak):", "",
        *former_lines(former), ""])


def main(argv: Sequence[str] | None = None) -> None:
    """Build both stores, crawl each, print (or record) the medians."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.archive_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="articles of the small store (default 1,000)")
    parser.add_argument("--large", type=int, default=1_000_000, help="articles of the large store (default 1,000,000)")
    parser.add_argument("--crawls", type=int, default=3, help="crawls of each store (default 3)")
    parser.add_argument("--write-results", action="store_true", help=f"replace the '{SECTION}' section of RESULTS.md")
    args = parser.parse_args(argv)
    crawl_cpu, server_cpu = crawl_cpus()
    if server_cpu:
        os.sched_setaffinity(0, server_cpu)  # the fixture web's thread runs in this process
    with tempfile.TemporaryDirectory(prefix="kuroshio-archive-") as scratch:
        folder = Path(scratch)
        fill_seconds = {}
        for size in (args.small, args.large):
            fill_seconds[size] = fill_archive(folder / f"archive-{size}.db", size)
            print(f"{size:,} articles stored in {fill_seconds[size]:.1f} s")
        results: dict[int, list[Crawl]] = {args.small: [], args.large: []}
        with FixtureWeb() as web:
            probe = folder / "probe.jsonl"
            configs = {size: crawl_config(folder, database=folder / f"archive-{size}.db", proxy=web.proxy_url,
                                          probe=probe) for size in results}
            for number in range(args.crawls):
                for size in results:  # alternating, so that the machine's drift touches both alike
                    results[size].append(crawl(configs[size], web, probe, cpus=crawl_cpu))
                    print(f"crawl {number + 1} of {size:,}: {results[size][-1]}")
        former = {size: former_load(folder / f"archive-{size}.db", cpus=crawl_cpu) for size in results}
    print("\n".join(table(results)))
    print("the former load of every stored URL:\n" + "\n".join(former_lines(former)))
    if args.write_results:
        RESULTS.write_text(replace_section(RESULTS.read_text(encoding="utf-8"),
                                           section(results, fill_seconds=fill_seconds, crawls=args.crawls,
                                                   commit=short_commit(), former=former)), encoding="utf-8")
        print(f"wrote {SECTION!r} to benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
