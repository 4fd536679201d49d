"""Throughput: `kuroshio crawl` end to end against trafilatura alone on the same pages.

Why: a monitor keeps up with hundreds of sources only if crawling, storing and filtering cost little
next to the one step that cannot be avoided, extracting the article. So the headline figure is the
ratio of the end-to-end crawl rate (article pages stored per second of the real `kuroshio crawl`
process, start-up included) to the rate of a bare loop calling `trafilatura.bare_extraction` with
Kuroshio's options on the same HTML, both on one CPU (the fixture server gets the other).

Also printed: the incremental re-crawl (start-up + discovery, no article fetched), the same crawl with
`crawl.extraction_workers = 1` (extraction in a worker process: two cores, against the same one-core
bare loop), the rate of Kuroshio's `extract_article` alone (the wrapper's own cost), peak RSS of the
crawl process, and a pyinstrument profile of one more crawl by stage (`benchmarks.profile_crawl`;
needs the `bench` extra).

With `--hosts N` the pages are spread over N hosts, one source each (`build_many_host_web`), as a
monitor of many sites crawls them: every source then pays its own start-up, robots.txt and sitemap.
Each crawl also prints the CPU the fixture server and the rest of the machine used meanwhile, so a
worker's share and another job's load can be read beside the rates.

`--baseline DIR` makes it an A/B in one run, for a machine whose load comes and goes: DIR holds an older
kuroshio package (DIR/kuroshio/crawler, storage, ...: `git archive <commit> crawler storage digest
fixtures scheduler` unpacked under DIR/kuroshio, with an empty __init__.py), and the one-process and
the worker crawls alternate `--rounds` times between it and this checkout, each on a fresh database, on
the same synthetic web and fixture server.

    .venv/bin/python -m benchmarks.throughput [--articles 2400] [--hosts 48] [--profile-workers 1] [--no-profile]
    .venv/bin/python -m benchmarks.throughput --hosts 48 --articles 1200 --baseline /tmp/before [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trafilatura

import kuroshio.crawler.extract
from benchmarks.common import (
    KUROSHIO,
    REPO,
    Measured,
    crawl_cpus,
    machine_summary,
    remove_tree,
    run_measured,
    sqlite_url,
    write_config,
)
from benchmarks.profile_crawl import summarise
from benchmarks.synthetic_web import SyntheticPage, SyntheticWeb, build_many_host_web, build_synthetic_web
from kuroshio.crawler.extract import NoArticleError, extract_article
from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.crawler.topics import default_topics, match_topics
from kuroshio.fixtures.server import CONTENT_TYPES, FixtureWeb


def main(argv: Sequence[str] | None = None) -> None:
    """Build the synthetic web, crawl it, run the bare loops, print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2400, help="article pages to generate (default 2400)")
    parser.add_argument("--hosts", type=int, default=0,
                        help="spread the pages over this many hosts, one source each (default: the three publishers)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled crawl")
    parser.add_argument("--profile-workers", type=int, default=0,
                        help="extraction_workers of the profiled crawl (default 0; with 1 it runs on two CPUs and "
                             "the profile shows the crawl process's share of a worker crawl)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the crawl use every CPU (default: one CPU for the crawl, the others for the server)")
    parser.add_argument("--baseline", type=Path,
                        help="a directory holding an older kuroshio package: alternate crawls with it and with "
                             "this checkout (an A/B in one run) instead of the usual figures")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --baseline A/B (default 3)")
    args = parser.parse_args(argv)
    profile = not args.no_profile and importlib.util.find_spec("pyinstrument") is not None
    if not args.no_profile and not profile:
        print("no profile: pyinstrument is not installed (pip install -e '.[bench]')")

    print(machine_summary())
    scratch = Path(tempfile.mkdtemp(prefix="kuroshio-bench-"))
    crawl_cpu, server_cpus = (None, None) if args.no_pin else crawl_cpus()
    worker_cpus = two_cpus()
    if server_cpus:
        os.sched_setaffinity(0, server_cpus)  # the fixture server's thread inherits this; the crawl gets crawl_cpu
    try:
        started = time.perf_counter()
        web = (build_many_host_web(scratch / "web", articles=args.articles, hosts=args.hosts) if args.hosts
               else build_synthetic_web(scratch / "web", articles=args.articles))
        sizes = sorted(page.path.stat().st_size for page in web.pages)
        print(f"synthetic web: {len(web.pages)} article pages on {args.hosts or 3} hosts ({sum(page.on_topic for page in web.pages)} on topic), "
              f"{web.total_bytes / 1e6:.1f} MB, page size min/median/max {sizes[0] / 1e3:.0f}/"
              f"{statistics.median(sizes) / 1e3:.0f}/{sizes[-1] / 1e3:.0f} kB; built in {time.perf_counter() - started:.1f} s")
        print(f"crawl pinned to CPU {sorted(crawl_cpu)}, fixture server to {sorted(server_cpus)}" if crawl_cpu
              else "not pinned: crawl, bare loops and fixture server share every CPU")

        if args.baseline:
            compare_with_baseline(web, scratch, args.baseline, rounds=args.rounds, crawl_cpu=crawl_cpu,
                                  worker_cpus=worker_cpus)
            return
        with FixtureWeb(roots=[web.root], keep_alive=True) as fixture_web:
            config = write_config(scratch / "kuroshio.toml", database_url=sqlite_url(scratch / "crawl.db"),
                                  proxy=fixture_web.proxy_url, sources_toml=web.sources_toml)
            first = run_measured([*KUROSHIO, "--config", str(config), "crawl"], cpus=crawl_cpu)
            report_crawl("end-to-end crawl", first, scratch / "crawl.db", web.pages)
            again = run_measured([*KUROSHIO, "--config", str(config), "crawl"], cpus=crawl_cpu)
            print(f"incremental re-crawl (start-up + discovery, no article fetched): {again.seconds:.2f} s "
                  f"({again.cpu_seconds:.2f} s CPU), "
                  f"exit {again.returncode}, peak RSS {again.max_rss_mib:.0f} MiB")
            worker_config = write_config(scratch / "workers.toml", database_url=sqlite_url(scratch / "workers.db"),
                                         proxy=fixture_web.proxy_url, sources_toml=web.sources_toml,
                                         extra="extraction_workers = 1")
            with_worker = run_measured([*KUROSHIO, "--config", str(worker_config), "crawl"], cpus=worker_cpus)
            report_crawl("with one extraction worker (its CPU time not counted), " +
                         (f"CPUs {sorted(worker_cpus)}" + (", shared with the fixture server" if
                                                            worker_cpus & (server_cpus or set()) else "")),
                         with_worker, scratch / "workers.db", web.pages)
            profile_path = scratch / "crawl-profile.json"
            if profile:
                profile_config = write_config(scratch / "profile.toml", database_url=sqlite_url(scratch / "profile.db"),
                                              proxy=fixture_web.proxy_url, sources_toml=web.sources_toml,
                                              extra=f"extraction_workers = {args.profile_workers}")
                profiled = run_measured([sys.executable, "-m", "benchmarks.profile_crawl", str(profile_config),
                                         str(profile_path)], cpus=worker_cpus if args.profile_workers else crawl_cpu,
                                        cwd=REPO)
                if profiled.returncode != 0:
                    print(f"profiled crawl failed ({profiled.returncode}): {profiled.stderr[-2000:]}")

        if crawl_cpu:
            os.sched_setaffinity(0, crawl_cpu)
        bare_rate = bare_loop_rate(web.pages)
        wrapper_rate = extract_article_rate(web.pages)
        matching_rate = topic_matching_rate(web.pages)
        end_to_end_rate = len(web.pages) / first.seconds
        steady_rate = len(web.pages) / max(first.seconds - again.seconds, 1e-9)
        print(f"bare loop, trafilatura.bare_extraction with Kuroshio's options: {bare_rate:.1f} pages/s")
        print(f"Kuroshio extract_article loop (decode, parse once, dates, canonical, cleanup): {wrapper_rate:.1f} pages/s")
        print(f"topic matching loop (match_topics, default topics, on the extracted articles): {matching_rate:.1f} pages/s")
        print(f"end-to-end crawl: {end_to_end_rate:.1f} pages/s; without the fixed cost of the re-crawl: "
              f"{steady_rate:.1f} pages/s")
        print(f"HEADLINE ratio end-to-end / bare: {end_to_end_rate / bare_rate:.2f} "
              f"(target >= 0.85; without the fixed start-up and discovery cost: {steady_rate / bare_rate:.2f})")
        worker_rate = len(web.pages) / with_worker.seconds
        print(f"with one extraction worker (crawl.extraction_workers = 1, two cores): {worker_rate:.1f} pages/s, "
              f"ratio to the one-core bare loop {worker_rate / bare_rate:.2f}")
        if profile and profile_path.exists():
            print(f"profiled crawl: extraction_workers = {args.profile_workers}")
            print(summarise(profile_path))
    finally:
        remove_tree(scratch)


def compare_with_baseline(web: SyntheticWeb, scratch: Path, baseline: Path, *, rounds: int,
                          crawl_cpu: set[int] | None, worker_cpus: set[int]) -> None:
    """The one-process and the worker crawl, alternating between the package under `baseline` and this
    checkout's; then the bare loop once (trafilatura is the same for both). Medians decide."""
    if not (baseline / "kuroshio" / "crawler").is_dir():
        raise SystemExit(f"--baseline {baseline}: no kuroshio/crawler under it")
    builds = {"baseline": {**os.environ, "PYTHONPATH": str(baseline)}, "this checkout": None}
    rates: dict[tuple[str, int], list[float]] = {}
    with FixtureWeb(roots=[web.root], keep_alive=True) as fixture_web:
        for number in range(rounds):
            for build, env in builds.items():
                for workers, cpus in ((0, crawl_cpu), (1, worker_cpus)):
                    database = scratch / f"ab-{number}-{workers}-{build.replace(' ', '-')}.db"
                    config = write_config(scratch / "ab.toml", database_url=sqlite_url(database),
                                          proxy=fixture_web.proxy_url, sources_toml=web.sources_toml,
                                          extra=f"extraction_workers = {workers}")
                    measured = run_measured([*KUROSHIO, "--config", str(config), "crawl"], cpus=cpus, env=env)
                    report_crawl(f"round {number + 1}, {build}, extraction_workers = {workers}", measured,
                                 database, web.pages)
                    rates.setdefault((build, workers), []).append(len(web.pages) / measured.seconds)
    if crawl_cpu:
        os.sched_setaffinity(0, crawl_cpu)
    bare_rate = bare_loop_rate(web.pages)
    print(f"bare loop, trafilatura.bare_extraction with Kuroshio's options: {bare_rate:.1f} pages/s")
    for (build, workers), measured_rates in rates.items():
        median = statistics.median(measured_rates)
        print(f"{build}, extraction_workers = {workers}: median {median:.1f} pages/s, ratio {median / bare_rate:.2f} "
              f"(rounds: {', '.join(f'{rate:.1f}' for rate in measured_rates)})")


def two_cpus() -> set[int]:
    """Two CPUs for a crawl with an extraction worker (the first two this process may use): on a
    machine with only two, the fixture server shares them."""
    return set(sorted(os.sched_getaffinity(0))[:2])


def report_crawl(label: str, measured: Measured, database: Path, pages: Sequence[SyntheticPage]) -> None:
    """Print what the crawl stored against what the synthetic web holds."""
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
        relevant = connection.execute("SELECT count(DISTINCT article_id) FROM topic_matches").fetchone()[0]
        fetched, errors = connection.execute("SELECT sum(pages_fetched), sum(errors_count) FROM crawl_runs").fetchone()
    expected_relevant = sum(page.on_topic for page in pages)
    print(f"{label}: {measured.seconds:.2f} s wall ({measured.cpu_seconds:.2f} s CPU), exit {measured.returncode}, {fetched} responses, "
          f"{stored}/{len(pages)} articles stored, {relevant}/{expected_relevant} relevant, {errors} errors, "
          f"peak RSS {measured.max_rss_mib:.0f} MiB")
    rest = measured.machine_cpu_seconds - measured.cpu_seconds - measured.server_cpu_seconds
    print(f"  CPU meanwhile: fixture server {measured.server_cpu_seconds:.2f} s, everything else on the machine "
          f"(extraction workers, other jobs) {rest:.2f} s; {measured.machine_cpu_seconds / measured.seconds:.2f} "
          f"of {os.cpu_count()} CPUs busy")
    if measured.returncode != 0 or stored != len(pages):
        print(f"  warning: the crawl did not store every page; its output:\n{measured.stdout[-1500:]}{measured.stderr[-1500:]}")


def _loaded(pages: Sequence[SyntheticPage]) -> list[tuple[SyntheticPage, bytes]]:
    return [(page, page.path.read_bytes()) for page in pages]


# The options `crawler.extract.extract_article` passes to trafilatura.bare_extraction (besides the URL and
# the publisher's prune_xpath); read from crawler.extract when it declares them, so the two cannot drift.
KUROSHIO_OPTIONS: dict[str, Any] = getattr(kuroshio.crawler.extract, "TRAFILATURA_OPTIONS", None) or {
    "with_metadata": True, "include_comments": False, "include_tables": True}


def bare_loop_rate(pages: Sequence[SyntheticPage]) -> float:
    """Pages/s of trafilatura.bare_extraction alone, called with Kuroshio's options on the decoded page."""
    loaded = _loaded(pages)
    prune = {name: list(publisher.prune_xpaths) or None for name, publisher in PUBLISHERS.items()}

    def extract(page: SyntheticPage, body: bytes) -> None:
        trafilatura.bare_extraction(body.decode("utf-8"), url=page.url, prune_xpath=prune[page.publisher],
                                    **KUROSHIO_OPTIONS)

    return _rate(loaded, extract)


def extract_article_rate(pages: Sequence[SyntheticPage]) -> float:
    """Pages/s of Kuroshio's extraction step (`crawler.extract.extract_article`) alone, given the body
    bytes and Content-Type as the spider gives them (decoding included)."""

    def extract(page: SyntheticPage, body: bytes) -> None:
        try:
            extract_article(body, content_type=CONTENT_TYPES[".html"], url=page.url, source=page.source,
                            publisher=PUBLISHERS[page.publisher])
        except NoArticleError:
            pass

    return _rate(_loaded(pages), extract)


def topic_matching_rate(pages: Sequence[SyntheticPage]) -> float:
    """Pages/s of `crawler.topics.match_topics` alone (default topics) on each page's extracted title and text."""
    topics = default_topics()
    articles = []
    for page, body in _loaded(pages):
        try:
            articles.append(extract_article(body, content_type=CONTENT_TYPES[".html"], url=page.url,
                                            source=page.source, publisher=PUBLISHERS[page.publisher]))
        except NoArticleError:
            pass
    for article in articles[:20]:  # warm-up: the segmenters load their dictionaries on first use
        match_topics(topics, title=article.title, text=article.text)
    started = time.perf_counter()
    for article in articles:
        match_topics(topics, title=article.title, text=article.text)
    return len(articles) / (time.perf_counter() - started)


def _rate(loaded: list[tuple[SyntheticPage, bytes]], extract: Callable[[SyntheticPage, bytes], None]) -> float:
    for page, body in loaded[:20]:  # warm-up: first calls load trafilatura's lazy state
        extract(page, body)
    started = time.perf_counter()
    for page, body in loaded:
        extract(page, body)
    return len(loaded) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
