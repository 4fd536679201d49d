"""A crawl's cost does not grow with the archive: the crawl asks the store only about the links it
discovered, in indexed `IN (...)` lookups of bounded size, and still skips every known one.

The store holds `FILLER` articles besides the fixture web's; a first crawl stores the web's articles,
and a second, run through `counted_queries.py` (every SQL statement of the crawl process recorded),
must fetch no article page again while reading `article_urls` and `page_failures` only by lookups of
the discovered links. Loading every stored URL at start-up, as crawls did, reads the whole table once
per crawl (`SELECT article_urls.url FROM article_urls`): the check on unbounded reads fails on it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fixture_web import KUROSHIO, write_config
from hostile_crawl import CRAWL_TIMEOUT, database_url, last_run
from sqlalchemy import insert

from kuroshio.fixtures.server import FixtureWeb, ServedRequest
from kuroshio.storage.articles import KNOWN_LINKS_PER_QUERY
from kuroshio.storage.engine import create_engine_for, session_factory, upgrade_schema
from kuroshio.storage.models import Article, ArticleURL, Source
from kuroshio.storage.runs import list_runs

pytestmark = pytest.mark.faults

FAULTS = Path(__file__).resolve().parent
FILLER = 50_000
SOURCES = ("focus-taiwan", "kyodo", "taiwan-news")


@dataclass(frozen=True)
class SecondCrawl:
    returncode: int
    stderr: str
    requests: list[ServedRequest]
    statements: list[dict]
    runs: dict[str, dict]
    duplicates_skipped: int


def fill_archive(url: str, count: int) -> None:
    """`count` stored articles (one URL each) of a source of their own, written by bulk inserts."""
    engine = create_engine_for(url)
    upgrade_schema(engine)
    seen_at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as connection:
        source_id = connection.execute(insert(Source).values(name="archive").returning(Source.id)).scalar_one()
        connection.execute(insert(Article), [
            {"id": number, "source_id": source_id, "url": f"https://archive.test/{number}",
             "canonical_url": f"https://archive.test/{number}", "title": "Old", "authors": [], "text": "old",
             "content_sha256": f"{number:064x}", "first_seen_at": seen_at} for number in range(1, count + 1)])
        connection.execute(insert(ArticleURL), [{"article_id": number, "url": f"https://archive.test/{number}"}
                                                 for number in range(1, count + 1)])
    engine.dispose()


@pytest.fixture(scope="module")
def second_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondCrawl]:
    folder = tmp_path_factory.mktemp("archive-size")
    fill_archive(database_url(folder), FILLER)
    record = folder / "statements.jsonl"
    with FixtureWeb() as web:
        config = write_config(folder / "kuroshio.toml", database_url=database_url(folder), proxy=web.proxy_url)
        first = subprocess.run([str(KUROSHIO), "--config", str(config), "crawl"], capture_output=True, text=True,
                               timeout=CRAWL_TIMEOUT, check=False)
        assert first.returncode == 0, first.stderr
        web.clear_log()
        second = subprocess.run([sys.executable, str(FAULTS / "counted_queries.py"), str(record),
                                 "--config", str(config), "crawl"],
                                capture_output=True, text=True, timeout=CRAWL_TIMEOUT, check=False)
        statements = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
        yield SecondCrawl(second.returncode, second.stderr, web.requests, statements,
                          {name: last_run(folder, name) for name in SOURCES}, duplicates_skipped(folder))


def duplicates_skipped(folder: Path) -> int:
    """Known links the newest run of each source skipped, together."""
    engine = create_engine_for(database_url(folder))
    try:
        with session_factory(engine)() as session:
            return sum(run.duplicates_skipped for run in list_runs(session, limit=len(SOURCES)))
    finally:
        engine.dispose()


def reads_of(statements: list[dict], table: str) -> list[dict]:
    return [s for s in statements if s["statement"].startswith("SELECT") and re.search(rf"\bFROM {table}\b",
                                                                                         s["statement"])]


def test_the_second_crawl_skips_every_known_article(second_crawl: SecondCrawl) -> None:
    assert second_crawl.returncode == 0, second_crawl.stderr
    assert second_crawl.requests, "the second crawl fetched nothing at all"
    fetched = {request.url for request in second_crawl.requests}
    assert not [url for url in fetched if re.search(r"/(?:news|articles)/|/\d{12}$", url)], fetched
    assert second_crawl.duplicates_skipped > 0  # the known links were discovered, and skipped
    assert all(run["status"] == "ok" and run["articles_new"] == 0 for run in second_crawl.runs.values())


def test_the_crawl_reads_no_stored_url_but_the_links_it_discovered(second_crawl: SecondCrawl) -> None:
    reads = reads_of(second_crawl.statements, "article_urls") + reads_of(second_crawl.statements, "page_failures")
    assert reads, "the crawl never asked the store about its links"
    unbounded = [read["statement"] for read in reads if " IN (" not in read["statement"]]
    assert not unbounded, unbounded  # a read of the whole table: the archive loaded at start-up
    assert max(read["parameters"] for read in reads) <= KNOWN_LINKS_PER_QUERY + 3
    # Every form of every link the three sources' documents name is far fewer than the archive's URLs.
    assert sum(read["parameters"] for read in reads) < FILLER / 50
