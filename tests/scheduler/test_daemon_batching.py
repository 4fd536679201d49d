# ruff: noqa: F811 (the tests take test_daemon's fixtures `site` and `start_daemon` by name)
"""The daemon runs due sources several to a crawl process (`daemon.max_sources_per_process`), at most
`daemon.max_crawl_processes` processes at once, and a source or process that fails costs only its own runs.

A real `kuroshio daemon` against a fixture web of many small sites (one host each, `site-N.test`, a feed
and two articles). Which process crawled a source is read from its run record's pid, and when it ran
from the run's start and end: a run starts after its process did and ends before it exits.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime, timezone
from math import ceil

from test_daemon import Site, site, start_daemon, wait_for  # noqa: F401 (site and start_daemon: fixtures)

from kuroshio.storage.models import CrawlRun

ARTICLES_PER_SITE = 2


def add_sites(site: Site, count: int, *, article_delay: float = 0.0) -> str:
    """`count` sites in the fixture web's overlay, and their `[[sources]]` (crawled hourly)."""
    now = datetime.now(timezone.utc)
    sources = []
    for number in range(count):
        host = f"site-{number}.test"
        items = []
        for article in range(ARTICLES_PER_SITE):
            url = f"http://{host}/news/{article}.html"
            site.add_page(f"news/{article}.html", article_page(host, article), delay=article_delay, host=host)
            items.append(f"<item><title>Story {article}</title><link>{url}</link>"
                         f"<pubDate>{now:%a, %d %b %Y %H:%M:%S} +0000</pubDate></item>")
        site.add_page("feed.xml", f"<rss version=\"2.0\"><channel><title>{host}</title>{''.join(items)}"
                      "</channel></rss>", host=host)
        sources.append(source_toml(f"site-{number}", host))
    return "".join(sources)


def source_toml(name: str, host: str) -> str:
    return (f'\n[[sources]]\nname = "{name}"\nfeeds = ["http://{host}/feed.xml"]\n'
            f'allowed_domains = ["{host}"]\nrobots_sitemaps = false\n')


def article_page(host: str, number: int) -> str:
    """A news page with a body of its own, so no two sites' articles are duplicates of each other."""
    paragraphs = "".join(
        f"<p>Paragraph {line} of story {number} from {host}: the harbour authority said the new ferry line "
        f"between the two ports would carry passengers and freight from the spring, officials confirmed.</p>"
        for line in range(6))
    return (f"<!DOCTYPE html><html lang=\"en\"><head><title>Story {number} of {host}</title>"
            f"<meta property=\"article:published_time\" content=\"{datetime.now(timezone.utc).isoformat()}\">"
            f"</head><body><article><h1>Story {number} of {host}</h1>{paragraphs}</article></body></html>")


def runs_by_process(runs: list[CrawlRun]) -> dict[int, list[CrawlRun]]:
    by_pid: dict[int, list[CrawlRun]] = {}
    for run in runs:
        assert run.pid is not None
        by_pid.setdefault(run.pid, []).append(run)
    return by_pid


def most_at_once(by_pid: dict[int, list[CrawlRun]]) -> int:
    """The most processes whose runs were open at one moment."""
    events = []
    for runs in by_pid.values():
        events.append((min(run.started_at for run in runs), 1))
        events.append((max(run.finished_at for run in runs), -1))
    open_now = peak = 0
    for _, change in sorted(events):  # an end sorts before a start at the same moment
        open_now += change
        peak = max(peak, open_now)
    return peak


def test_sources_due_together_share_processes_never_more_than_allowed_at_once(site, start_daemon):
    """Six sources due at the daemon's start, two to a process, two processes at once: three processes,
    the third started only once one of the first two ended. Articles take a second each, so the first
    two processes are still crawling when the third is due to start. `start_spread = "0s"`: the six are a
    herd larger than the four crawled at once, which would otherwise be spread (test_daemon_first_round)."""
    sources = add_sites(site, 6, article_delay=1.0)
    daemon = start_daemon(site.config(sources, daemon='max_crawl_processes = 2\nmax_sources_per_process = 2\n'
                                                      'start_spread = "0s"'))
    wait_for(lambda: len([run for run in site.runs() if run.status != "running"]) == 6, timeout=120,
             what="six crawls", log=daemon)
    assert daemon.terminate()[0] == 0
    runs = site.runs()
    assert [run.status for run in runs] == ["ok"] * 6
    by_pid = runs_by_process(runs)
    assert sorted(len(batch) for batch in by_pid.values()) == [2, 2, 2]
    assert len(by_pid) == ceil(6 / 2)
    assert most_at_once(by_pid) == 2
    assert len(site.article_urls()) == 6 * ARTICLES_PER_SITE


def test_a_killed_process_costs_only_its_own_sources(site, start_daemon):
    """Four sources, two to a process, both processes at once; one is SIGKILLed while its articles are
    being served (ten seconds each): its two runs are ended failed, the other two finish ok."""
    sources = add_sites(site, 4, article_delay=10.0)
    daemon = start_daemon(site.config(sources, daemon="max_crawl_processes = 2\nmax_sources_per_process = 2"))
    wait_for(lambda: len([run for run in site.runs() if run.status == "running"]) == 4, timeout=60,
             what="both processes crawling", log=daemon)
    by_pid = runs_by_process(site.runs())
    assert sorted(len(batch) for batch in by_pid.values()) == [2, 2]
    killed, spared = sorted(by_pid)
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: not [run for run in site.runs() if run.status == "running"], timeout=90,
             what="every run ended", log=daemon)
    assert daemon.terminate()[0] == 0
    runs = runs_by_process(site.runs())
    assert [(run.status, run.message) for run in runs[killed]] == \
        [("failed", f"crawl process exited with status {-signal.SIGKILL}")] * 2
    assert [run.status for run in runs[spared]] == ["ok", "ok"]
    assert f"crawl of {', '.join(run.source.name for run in runs[killed])} exited with status -9" \
        in daemon.output()


def test_a_failing_source_does_not_affect_its_process_mates(site, start_daemon):
    """A source whose server drops every connection fails in the same process as two healthy sources,
    which store their articles as if it were not there."""
    sources = add_sites(site, 2)
    site.add_page("feed.xml", "", host="refused.test")
    (site.overlay / "refused.test" / "feed.xml.headers.json").write_text('{"drop": true}', encoding="utf-8")
    sources += source_toml("refused", "refused.test")
    daemon = start_daemon(site.config(sources, daemon="max_sources_per_process = 3"))
    wait_for(lambda: len([run for run in site.runs() if run.status != "running"]) == 3, timeout=60,
             what="three crawls", log=daemon)
    assert daemon.terminate()[0] == 0
    runs = {run.source.name: run for run in site.runs()}
    assert len({run.pid for run in runs.values()}) == 1, "the three shared one process"
    assert runs["refused"].status == "failed"
    assert runs["refused"].message.startswith("discovered no article links")
    assert [(runs[name].status, runs[name].articles_new) for name in ("site-0", "site-1")] == [("ok", 2), ("ok", 2)]
    assert sorted(site.article_urls()) == sorted(f"http://site-{n}.test/news/{a}.html" for n in (0, 1) for a in (0, 1))

