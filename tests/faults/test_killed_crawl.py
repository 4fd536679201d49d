"""A one-off crawl killed with SIGKILL does not stay `running` for ever when no daemon runs (issue #16,
item 7): `kuroshio status`, `runs` and `sources` mark the run of a dead process `interrupted`, with the
reason, and the next `kuroshio crawl` of the source runs. A live crawl's run is left alone.

The fixtures are `fixtures/hostile/killed-crawl/` (see its README); every command is the real one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import KUROSHIO, kuroshio
from hostile_crawl import CRAWL_TIMEOUT, HOSTILE, HoldingWeb, hostile_config, last_run, stored_articles

pytestmark = pytest.mark.faults

CASE = HOSTILE / "killed-crawl"
SITE = "http://slow.news.test"
HELD = f"{SITE}/news/held"
SOURCE = (f'[[sources]]\nname = "slow"\nfeeds = ["{SITE}/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
HOLD_TIMEOUT = 60.0


@dataclass(frozen=True)
class KilledCrawl:
    pid: int
    live_status: str
    killed_run: dict
    outputs: dict[str, str]  # command → stdout, after the kill
    second: subprocess.CompletedProcess[str]
    second_run: dict
    articles: list[dict]


@pytest.fixture(scope="module")
def killed_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledCrawl]:
    folder = tmp_path_factory.mktemp("killed-crawl")
    with HoldingWeb(HELD, hold_timeout=HOLD_TIMEOUT, roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        crawl = subprocess.Popen([str(KUROSHIO), "--config", str(config), "crawl"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert web.held.wait(CRAWL_TIMEOUT), "the crawl never asked for the held page"
            live_status = run_command(config, "status")
        finally:
            crawl.kill()
            crawl.wait()
        web.release.set()
        outputs = {command: run_command(config, command) for command in ("status", "runs", "sources")}
        killed_run = last_run(folder, "slow")
        second = kuroshio(config, "crawl")
        yield KilledCrawl(crawl.pid, live_status, killed_run, outputs, second, last_run(folder, "slow"),
                          stored_articles(config))


def run_command(config: Path, command: str) -> str:
    result = kuroshio(config, command)
    assert result.returncode == 0, result.stderr
    return result.stdout


def status_of(listing: str, source: str) -> str:
    """The run status in `source`'s newest row of a table (`status`, `sources`: "last run"; `runs`: "status"),
    read by the columns' places under the header."""
    lines = listing.splitlines()
    header_at = next(n for n, line in enumerate(lines) if line.split()[:1] in (["!"], ["source"], ["run"]))
    header, dashes = lines[header_at], lines[header_at + 1]
    spans = [(start, start + len(dash)) for start, dash in _runs_of_dashes(dashes)]

    def cell(row: str, name: str) -> str:
        start, end = next(span for span in spans if header[span[0]:span[1]].strip() == name)
        return row[start:end].strip()

    column = "last run" if "last run" in header else "status"
    for row in lines[header_at + 2:]:
        if cell(row, "source") == source:
            return cell(row, column)
    raise AssertionError(f"no row of {source} in:\n{listing}")


def _runs_of_dashes(line: str) -> Iterator[tuple[int, str]]:
    start = 0
    for dash in line.split("  "):
        yield start, dash
        start += len(dash) + 2


def test_a_live_crawl_is_shown_running(killed_crawl):
    assert status_of(killed_crawl.live_status, "slow") == "running", killed_crawl.live_status


def test_the_killed_run_is_marked_interrupted_with_the_reason(killed_crawl):
    assert killed_crawl.killed_run["status"] == "interrupted"
    assert killed_crawl.killed_run["message"] == f"process {killed_crawl.pid} ended before finishing the run"


@pytest.mark.parametrize("command", ["status", "runs", "sources"])
def test_reading_commands_show_it_interrupted(killed_crawl, command):
    listing = killed_crawl.outputs[command]
    assert status_of(listing, "slow") == "interrupted", listing


def test_the_next_crawl_of_the_source_runs_and_stores_the_article(killed_crawl):
    assert killed_crawl.second.returncode == 0, killed_crawl.second.stderr
    assert "already being crawled" not in killed_crawl.second.stderr
    assert killed_crawl.second_run["status"] == "ok"
    assert [article["url"] for article in killed_crawl.articles] == [HELD]

