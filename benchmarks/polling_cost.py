"""Polling cost: what one poll of an unchanged source costs with conditional requests (after) and without
them (before: `KUROSHIO_CONDITIONAL_REQUESTS = false`), measured in one run (issue #12, item 5).

In the daemon's shape (the first table): before, as issue #12 describes it, each poll of each source
was a process of its own fetching every document whole; after, the daemon polls `--sources` (20, as
`daemon.max_sources_per_process`) due sources in one shared process, with validators. The web is
`--sources` hosts of the synthetic web (`build_many_host_web`, `--host-articles` articles in all, each
host a copy of one publisher's markup, sitemaps and robots.txt, discovered by its sitemap), all stored
already; a round is one poll of every source each way: `--sources` processes of one source before, one
process of all of them after. Per poll: a before process's own figures; the after process's totals ÷
its sources (its start-up shared among them).

Three sources in one process (the second table): the synthetic web (`benchmarks.synthetic_web`,
`--articles` pages over the three publishers: a FeedBurner feed of 100 items, sitemaps of every
article, Taiwan News' sitemap index, Kyodo's home page and the robots.txt naming the sitemaps), every
discovery document served honouring validators (the fixture web's `"conditional": true`). The store
already holds every article (their URLs bulk-inserted), so a poll finds nothing new, as most polls of
a monitor do. One poll with validators stores them; then `--polls` polls each way, alternating. A
poll is `kuroshio crawl` of the three sources, pinned to one CPU, the fixture web on the other.

Per poll: CPU of the whole process (start-up included: about a second of imports, which item 3 of the
issue, many sources per process, is to share), CPU and wall time of the crawl itself (from the first
engine's start to the last spider's close, `benchmarks.poll_probe`), bytes received (Scrapy's
`downloader/response_bytes`: headers and bodies) and responses. Medians are printed, with the ratio
before ÷ after (target ≥ 20× less). `--profile OUT.json` then profiles one shared poll after
(`benchmarks.profile_crawl`) and prints where its time went.

    .venv/bin/python -m benchmarks.polling_cost [--sources 20] [--host-articles 3000] [--rounds 5]
        [--articles 3000] [--polls 5] [--profile OUT.json] [--write-results]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, insert, select

from benchmarks.common import (
    KUROSHIO,
    REPO,
    crawl_cpus,
    machine_summary,
    replace_section,
    run_measured,
    short_commit,
    sqlite_url,
    write_config,
)
from benchmarks.profile_crawl import summarise
from benchmarks.synthetic_web import SyntheticPage, build_many_host_web, build_synthetic_web
from kuroshio.fixtures.server import SIDECAR_SUFFIX, FixtureWeb
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleURL, Source
from kuroshio.storage.urls import canonicalize_url

RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Polling cost (issue #12)"
TARGET_RATIO = 20.0
MODES = ("before", "after")


@dataclass(frozen=True)
class Poll:
    """One measured poll: a process's figures, or (`share`) one source's share of a shared process's."""

    process_cpu_ms: float
    process_wall_ms: float
    crawl_cpu_ms: float
    crawl_wall_ms: float
    bytes_received: float
    responses: float
    not_modified: float
    peak_rss_mib: float  # of the whole process, never divided: what the machine must hold at once

    def share(self, sources: int) -> Poll:
        """One source's share of a process that polled `sources`."""
        return Poll(*(value / sources for value in (self.process_cpu_ms, self.process_wall_ms, self.crawl_cpu_ms,
                                                    self.crawl_wall_ms, self.bytes_received, self.responses,
                                                    self.not_modified)), peak_rss_mib=self.peak_rss_mib)


def make_conditional(root: Path, article_paths: set[Path]) -> int:
    """Mark every discovery document under `root` (every file but the article pages) as honouring
    validators, keeping the headers a sidecar already sets; the number of documents."""
    documents = [path for path in root.rglob("*") if path.is_file() and path not in article_paths
                 and not path.name.endswith(SIDECAR_SUFFIX) and not path.name.endswith(".partial")]
    for path in documents:
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        overrides = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
        sidecar.write_text(json.dumps({**overrides, "conditional": True}), encoding="utf-8")
    return len(documents)


def fill_store(url: str, pages: Sequence[SyntheticPage]) -> None:
    """Every page of the synthetic web stored, as a crawl would have left it (bulk inserts)."""
    engine = create_engine_for(url)
    upgrade_schema(engine)
    seen_at = datetime(2025, 12, 31, tzinfo=timezone.utc)
    with engine.begin() as connection:
        source_ids = {name: connection.execute(insert(Source).values(name=name).returning(Source.id)).scalar_one()
                      for name in sorted({page.source for page in pages})}
        connection.execute(insert(Article), [
            {"id": number, "source_id": source_ids[page.source], "url": canonicalize_url(page.url),
             "canonical_url": canonicalize_url(page.url), "title": page.title, "authors": [], "text": page.title,
             "content_sha256": f"{number:064x}", "first_seen_at": seen_at, "published_at": page.published_at}
            for number, page in enumerate(pages, 1)])
        connection.execute(insert(ArticleURL), [{"article_id": number, "url": canonicalize_url(page.url)}
                                                for number, page in enumerate(pages, 1)])
    engine.dispose()


def stored_articles(url: str) -> int:
    engine = create_engine_for(url)
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(Article)) or 0
    finally:
        engine.dispose()


def poll_config(folder: Path, *, mode: str, database_url: str, proxy: str, sources_toml: str, probe: Path) -> Path:
    """The crawl config of one mode: validators sent (after) or not (before), the probe loaded."""
    config = write_config(folder / f"{mode}.toml", database_url=database_url, proxy=proxy, sources_toml=sources_toml,
                          concurrency=8)
    switch = "true" if mode == "after" else "false"
    text = config.read_text(encoding="utf-8").replace(
        "scrapy_settings = {", "scrapy_settings = { KUROSHIO_HOSTS = {}, "
        f'EXTENSIONS = {{ "benchmarks.poll_probe.PollProbe" = 100 }}, POLL_PROBE_RECORD = "{probe}", '
        f"KUROSHIO_CONDITIONAL_REQUESTS = {switch},", 1)
    config.write_text(text, encoding="utf-8")
    return config


def poll(config: Path, probe: Path, *, cpus: set[int] | None, sources: Sequence[str] = ()) -> Poll:
    """Run one `kuroshio crawl` (of `sources`, as the daemon names them, or of every source) and read what
    it cost."""
    probe.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    named = [argument for source in sources for argument in ("--source", source)]
    measured = run_measured([*KUROSHIO, "--config", str(config), "crawl", *named], cpus=cpus, env=env)
    if measured.returncode != 0:
        raise SystemExit(f"the poll failed (exit {measured.returncode}):\n{measured.stdout}\n{measured.stderr}")
    sources = [json.loads(line) for line in probe.read_text(encoding="utf-8").splitlines()]
    return Poll(
        process_cpu_ms=measured.cpu_seconds * 1000, process_wall_ms=measured.seconds * 1000,
        peak_rss_mib=measured.max_rss_mib,
        crawl_cpu_ms=(max(s["closed_cpu"] for s in sources) - min(s["started_cpu"] for s in sources)) * 1000,
        crawl_wall_ms=(max(s["closed_wall"] for s in sources) - min(s["started_wall"] for s in sources)) * 1000,
        bytes_received=sum(s["response_bytes"] for s in sources), responses=sum(s["responses"] for s in sources),
        not_modified=sum(s["not_modified"] for s in sources))


def median(polls: Sequence[Poll], field: str) -> float:
    return statistics.median(getattr(p, field) for p in polls)


FIGURES = (("crawl CPU (engine start to close)", "crawl_cpu_ms", "ms"), ("bytes received", "bytes_received", "B"),
           ("crawl wall (engine start to close)", "crawl_wall_ms", "ms"), ("responses", "responses", ""),
           ("304 answers", "not_modified", ""), ("process CPU (start-up included)", "process_cpu_ms", "ms"),
           ("process wall (start-up included)", "process_wall_ms", "ms"))
TARGETED = ("crawl_cpu_ms", "bytes_received", "crawl_wall_ms", "process_cpu_ms", "process_wall_ms")


DAEMON_FIGURES = (("process CPU (start-up included; after: a share)", "process_cpu_ms", "ms"),
                  ("bytes received", "bytes_received", "B"),
                  ("process wall (start-up included; after: a share)", "process_wall_ms", "ms"),
                  ("crawl CPU (engine start to close; after: a share)", "crawl_cpu_ms", "ms"),
                  ("responses", "responses", ""), ("304 answers", "not_modified", ""),
                  ("peak RSS of the polling process (not divided)", "peak_rss_mib", "MiB"))


def table(results: dict[str, list[Poll]], figures: Sequence[tuple[str, str, str]] = FIGURES) -> list[str]:
    """The figures as a Markdown table: median before, after, and before ÷ after."""
    lines = ["| per poll (median) | before | after | before ÷ after |", "| --- | ---: | ---: | ---: |"]
    for label, field, unit in figures:
        before, after = median(results["before"], field), median(results["after"], field)
        ratio = f"**{before / after:.1f}×**" if field in TARGETED and after else ""
        lines.append(f"| {label} | {before:,.0f} {unit} | {after:,.0f} {unit} | {ratio} |".replace("  |", " |"))
    return lines


def verdicts(results: dict[str, list[Poll]], figures: Sequence[tuple[str, str, str]]) -> str:
    """Held or missed, for each targeted figure."""
    return "Verdicts (≥ 20×): " + "; ".join(
        f"{label}: {'held' if median(results['before'], field) >= TARGET_RATIO * median(results['after'], field) else 'missed'}"
        for label, field, _ in figures if field in TARGETED) + "."


@dataclass(frozen=True)
class DaemonShape:
    """The daemon-shaped comparison's polls and what it polled."""

    results: dict[str, list[Poll]]
    sources: int
    articles: int
    documents: int
    rounds: int


def section(results: dict[str, list[Poll]], shape: DaemonShape, *, articles: int, documents: int, commit: str,
            load: str) -> str:
    polls = len(results["after"])
    return "\n".join([
        SECTION, "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on commit `{commit}` with "
        "`.venv/bin/python -m benchmarks.polling_cost --write-results`.", "",
        f"**Machine.** {machine_summary()}; load average {load} (other engineers' work shares the machine).", "",
        "### In the daemon's shape", "",
        f"**Setup.** {shape.sources} loopback hosts of the synthetic web ({shape.articles:,} articles, each host a "
        "copy of one publisher's markup, sitemaps and robots.txt; "
        f"{shape.documents} discovery documents in all, served honouring validators), one source each, every "
        f"article stored, so each poll finds nothing new. {shape.rounds} rounds, after one that stored the "
        "validators. Before, as issue #12 describes it: every poll of a source is a `kuroshio crawl` process of "
        f"its own with `KUROSHIO_CONDITIONAL_REQUESTS = false` ({shape.sources} processes a round, "
        f"{len(shape.results['before'])} polls in all). After, as the daemon polls now: the {shape.sources} "
        f"sources share one process (`daemon.max_sources_per_process = {shape.sources}`, `kuroshio crawl --source "
        "... --source ...`), validators sent; its totals ÷ its sources are a poll's share. Each process pinned to "
        "one CPU, the fixture web on the other. Target: ≥ 20× less per poll.", "",
        *table(shape.results, DAEMON_FIGURES), "",
        verdicts(shape.results, DAEMON_FIGURES), "",
        "### Three sources in one process, with and without validators", "",
        f"**Setup.** The synthetic web of {articles:,} articles (three publishers: a feed of 100 items, sitemaps "
        f"naming every article, a sitemap index, a home page, robots.txt), its {documents} discovery documents "
        "served honouring validators; every article already stored, so each poll finds nothing new. "
        f"{polls} polls each way, alternating, after one that stored the validators; a poll is `kuroshio crawl` of "
        "the three sources pinned to one CPU. Before: `KUROSHIO_CONDITIONAL_REQUESTS = false`, every document "
        "fetched and parsed whole, as before conditional polling. Target: ≥ 20× less per poll.", "",
        *table(results), "",
        verdicts(results, FIGURES), "",
        "Bytes drop by far more than the target: a 304 carries headers only, and robots.txt and the sitemap "
        "index are read from the bodies the store kept. The crawl's own CPU and wall drop less. A cProfile "
        "of one poll after shows what is left: Scrapy's fixed cost per source and per request (three crawlers "
        "opened and closed, each document's request through the downloader middlewares, Twisted's HTTP "
        "client and the reactor) and one indexed lookup of the validators per document (about a fifth); none "
        "of it grows with the documents, so the ratio grows with the size of a source's feeds and sitemaps. "
        "The process figures include Python's start-up and imports (about 1.3 s of CPU whatever the poll "
        "finds), which conditional requests cannot remove: sharing one process among many sources (issue "
        "#12, item 3; the first table) is what takes that part down.", ""])


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as /proc/loadavg has them."""
    return " / ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def measure_daemon_shape(folder: Path, *, sources: int, articles: int, rounds: int, cpus: set[int] | None,
                         profile: Path | None) -> DaemonShape:
    """`sources` hosts, polled `rounds` times each way: a process per source poll without validators
    (before), one process for all with them (after, each poll its share)."""
    web = build_many_host_web(folder / "web", articles=articles, hosts=sources)
    documents = make_conditional(web.root, {page.path for page in web.pages})
    database_url = sqlite_url(folder / "kuroshio.db")
    fill_store(database_url, web.pages)
    names = re.findall(r'^name = "(.+)"$', web.sources_toml, flags=re.MULTILINE)
    probe = folder / "probe.jsonl"
    results: dict[str, list[Poll]] = {mode: [] for mode in MODES}
    with FixtureWeb(roots=[web.root], keep_alive=True) as fixture:
        configs = {mode: poll_config(folder, mode=mode, database_url=database_url, proxy=fixture.proxy_url,
                                     sources_toml=web.sources_toml, probe=probe) for mode in MODES}
        primed = poll(configs["after"], probe, cpus=cpus, sources=names)
        print(f"daemon shape, priming poll of {len(names)} sources: {primed.responses:.0f} responses, "
              f"{primed.bytes_received:,.0f} bytes")
        for number in range(rounds):
            results["before"] += [poll(configs["before"], probe, cpus=cpus, sources=[name]) for name in names]
            results["after"].append(poll(configs["after"], probe, cpus=cpus, sources=names).share(len(names)))
            print(f"round {number + 1}: before (last) {results['before'][-1]}\n  after (a share) {results['after'][-1]}")
        if profile is not None:
            subprocess.run([sys.executable, "-m", "benchmarks.profile_crawl", str(configs["after"]), str(profile)],
                           cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
            print(summarise(profile, top=15))
    if stored_articles(database_url) != len(web.pages):
        raise SystemExit("a poll stored something: the sources were not unchanged")
    return DaemonShape(results=results, sources=len(names), articles=len(web.pages), documents=documents,
                       rounds=rounds)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the webs, fill the stores, poll each way and print (or record) the medians."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.polling_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3000, help="articles of the synthetic web (default 3000)")
    parser.add_argument("--polls", type=int, default=5, help="measured polls each way (default 5)")
    parser.add_argument("--sources", type=int, default=20,
                        help="sources sharing the daemon-shaped poll's process (default 20, as max_sources_per_process)")
    parser.add_argument("--host-articles", type=int, default=3000,
                        help="articles over the daemon-shaped web's hosts (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="daemon-shaped rounds each way (default 5)")
    parser.add_argument("--profile", type=Path, help="profile one shared poll after into this pyinstrument session")
    parser.add_argument("--write-results", action="store_true", help=f"replace the '{SECTION}' section of RESULTS.md")
    args = parser.parse_args(argv)
    crawl_cpu, server_cpu = crawl_cpus()
    if server_cpu:
        os.sched_setaffinity(0, server_cpu)  # the fixture web's thread runs in this process
    with tempfile.TemporaryDirectory(prefix="kuroshio-polling-shared-") as scratch:
        shape = measure_daemon_shape(Path(scratch), sources=args.sources, articles=args.host_articles,
                                     rounds=args.rounds, cpus=crawl_cpu, profile=args.profile)
    print("\n".join(table(shape.results, DAEMON_FIGURES)))
    with tempfile.TemporaryDirectory(prefix="kuroshio-polling-") as scratch:
        folder = Path(scratch)
        web = build_synthetic_web(folder / "web", articles=args.articles)
        documents = make_conditional(web.root, {page.path for page in web.pages})
        database_url = sqlite_url(folder / "kuroshio.db")
        fill_store(database_url, web.pages)
        probe = folder / "probe.jsonl"
        with FixtureWeb(roots=[web.root], keep_alive=True) as fixture:
            configs = {mode: poll_config(folder, mode=mode, database_url=database_url, proxy=fixture.proxy_url,
                                         sources_toml=web.sources_toml, probe=probe) for mode in MODES}
            primed = poll(configs["after"], probe, cpus=crawl_cpu)
            print(f"priming poll: {primed.responses:.0f} responses, {primed.bytes_received:,.0f} bytes")
            results: dict[str, list[Poll]] = {mode: [] for mode in MODES}
            for number in range(args.polls):
                for mode in MODES:
                    results[mode].append(poll(configs[mode], probe, cpus=crawl_cpu))
                    print(f"poll {number + 1} {mode}: {results[mode][-1]}")
        if stored_articles(database_url) != len(web.pages):
            raise SystemExit("a poll stored something: the source was not unchanged")
    print("\n".join(table(results)))
    if args.write_results:
        RESULTS.write_text(replace_section(RESULTS.read_text(encoding="utf-8"),
                                           section(results, shape, articles=len(web.pages), documents=documents,
                                                   commit=short_commit(), load=load_average())),
                           encoding="utf-8")
        print(f"wrote {SECTION!r} to benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
