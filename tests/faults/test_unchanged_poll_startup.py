"""A crawl process that finds nothing new loads nothing it did not need (issue #12, item 5): most polls
of a monitor find every document unchanged, and what a crawl process does before its first request is
most of such a poll's cost. So the topics are parsed on the first article matched, trafilatura comes
with the first article page read, the Chinese and Japanese segmenters with the first CJK text,
Alembic only when the store needs a migration; Scrapy's remote control server is never started.

The crawl is the real `kuroshio crawl` in a process of its own, of the `conditional-polling` fixture
source (`fixtures/hostile/conditional-polling/`), every document answering 304 the second time. A
small wrapper counts the topic parses and names the heavy modules loaded when the process ends. The
first crawl, which reads the source's articles, is that wrapper's proof: it reaches all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import stored_articles
from hostile_crawl import CRAWL_TIMEOUT, HOSTILE, hostile_config

from kuroshio.fixtures.server import FixtureWeb

pytestmark = pytest.mark.faults

HONOURS = "http://honours.news.test"
SOURCE = (f'[[sources]]\nname = "honours"\nfeeds = ["{HONOURS}/feed.xml"]\nlisting_pages = ["{HONOURS}/latest/"]\n'
          "article_url_pattern = '/news/'\n")
HEAVY_MODULES = ("alembic", "rjieba", "sudachipy", "trafilatura")

# Runs `kuroshio` with argv[2:] and writes to argv[1], at exit, how many queries were parsed and which
# of HEAVY_MODULES were imported. parse_query is wrapped before anything imports it by name.
COUNTING_KUROSHIO = f"""
import atexit, json, sys
import kuroshio.storage.query as query

parsed = []
parse_query = query.parse_query
query.parse_query = lambda text, *args, **kwargs: parsed.append(text) or parse_query(text, *args, **kwargs)
report, sys.argv = sys.argv[1], ["kuroshio", *sys.argv[2:]]
atexit.register(lambda: open(report, "w").write(json.dumps(
    {{"parses": len(parsed), "loaded": [name for name in {HEAVY_MODULES!r} if name in sys.modules]}})))
from kuroshio.scheduler.cli import main
main()
"""


@dataclass(frozen=True)
class CountedCrawl:
    """A finished crawl process: its output, the queries it parsed and the heavy modules it loaded."""

    returncode: int
    stdout: str
    stderr: str
    parses: int
    loaded: list[str]


def counted_crawl(config: Path, folder: Path) -> CountedCrawl:
    report = folder / "loaded.json"
    # Scrapy's remote control would write its job files under $XDG_STATE_HOME/scrapy.
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
    result = subprocess.run([sys.executable, "-c", COUNTING_KUROSHIO, str(report), "--config", str(config), "crawl"],
                            capture_output=True, text=True, timeout=CRAWL_TIMEOUT, check=False, env=env)
    counted = json.loads(report.read_text(encoding="utf-8"))
    return CountedCrawl(result.returncode, result.stdout, result.stderr, counted["parses"], counted["loaded"])


@dataclass(frozen=True)
class Crawls:
    first: CountedCrawl
    unchanged: CountedCrawl
    articles_first: list[dict]
    articles_unchanged: list[dict]
    folder: Path


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    folder = tmp_path_factory.mktemp("unchanged-poll-startup")
    with FixtureWeb(roots=[HOSTILE / "conditional-polling"]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        first = counted_crawl(config, folder)
        articles_first = stored_articles(config)
        web.clear_log()
        unchanged = counted_crawl(config, folder)
        assert {request.status for request in web.requests} == {304}, web.requests
        yield Crawls(first, unchanged, articles_first, stored_articles(config), folder)


def test_the_first_crawl_reads_its_articles_and_loads_what_reading_needs(crawls: Crawls) -> None:
    assert crawls.first.returncode == 0, crawls.first.stderr
    assert crawls.articles_first, "the first crawl stored no article"
    assert crawls.first.parses >= 1  # the built-in topic, on the first article matched
    assert set(crawls.first.loaded) >= {"alembic", "trafilatura"}  # a new store is migrated; pages are read


def test_an_unchanged_poll_parses_no_topic_and_loads_no_extraction_segmenter_or_migrations(crawls: Crawls) -> None:
    assert crawls.unchanged.returncode == 0, crawls.unchanged.stderr
    assert crawls.articles_unchanged == crawls.articles_first
    assert (crawls.unchanged.parses, crawls.unchanged.loaded) == (0, [])


def test_no_crawl_starts_scrapys_remote_control(crawls: Crawls) -> None:
    # It runs Python sent over HTTP, and announces each Crawler's server in a job file holding its token.
    assert not (crawls.folder / "state" / "scrapy").exists()
