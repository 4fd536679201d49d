"""Extraction workers: the same article and matches as in-process reading, and a dead worker costs one page."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixture_web import SEED_CASES, expected, page_bytes

from kuroshio.crawler.extract import NoArticleError
from kuroshio.crawler.publishers import PUBLISHERS
from kuroshio.crawler.topics import default_topics
from kuroshio.crawler.workers import ExtractionWorkerDied, ExtractionWorkers, read_article

HTML = "text/html; charset=utf-8"


TOPICS = default_topics()


@pytest.fixture
def workers() -> Iterator[ExtractionWorkers]:
    pool = ExtractionWorkers(1, TOPICS)
    yield pool
    pool.close()


def read_in(workers: ExtractionWorkers, case: str, body: bytes | None = None):
    fields = expected(case)
    return asyncio.run(workers.read(body if body is not None else page_bytes(fields["url"]), url=fields["url"],
                                    source=fields["source"], content_type=HTML, publisher=fields["source"],
                                    feed_published_at=None))


def extract_in(workers: ExtractionWorkers, case: str, body: bytes | None = None):
    return read_in(workers, case, body)[0]


@pytest.mark.parametrize("case", SEED_CASES)
def test_a_worker_reads_exactly_what_the_crawl_process_would(workers: ExtractionWorkers, case: str) -> None:
    fields = expected(case)
    in_process = read_article(page_bytes(fields["url"]), url=fields["url"], source=fields["source"],
                              content_type=HTML, publisher=PUBLISHERS[fields["source"]], feed_published_at=None,
                              topics=TOPICS)

    article, matches = read_in(workers, case)
    assert (article, matches) == in_process
    assert [match.topic for match in matches] == ["taiwan-japan"]  # the seeds are on topic


def test_a_page_with_no_article_raises_the_same_error_from_a_worker(workers: ExtractionWorkers) -> None:
    with pytest.raises(NoArticleError, match="no article text|too short|no title"):
        extract_in(workers, SEED_CASES[0], body=b"<html><head><title>Menu</title></head><body></body></html>")


def test_a_dead_worker_fails_its_page_and_the_next_page_gets_a_new_one(workers: ExtractionWorkers) -> None:
    extract_in(workers, SEED_CASES[0])  # the worker is up
    # The pool's worker processes (a test-only look inside ProcessPoolExecutor): kill the one there is.
    [worker_pid] = list(workers._executor._processes)  # noqa: SLF001
    os.kill(worker_pid, signal.SIGKILL)

    with pytest.raises(ExtractionWorkerDied, match="extraction worker died"):
        extract_in(workers, SEED_CASES[0])
    assert extract_in(workers, SEED_CASES[1]).title == expected(SEED_CASES[1])["title"]
    assert worker_pid not in workers._executor._processes  # noqa: SLF001


def test_spiders_share_one_pool_and_the_last_to_finish_closes_it() -> None:
    first = ExtractionWorkers.acquire(1, TOPICS)
    second = ExtractionWorkers.acquire(1, TOPICS)
    assert second is first
    ExtractionWorkers.release()
    assert extract_in(first, SEED_CASES[0]).title == expected(SEED_CASES[0])["title"]  # still open
    ExtractionWorkers.release()
    with pytest.raises(RuntimeError, match="shutdown"):
        extract_in(first, SEED_CASES[0])
    assert ExtractionWorkers.acquire(1, TOPICS) is not first
    ExtractionWorkers.release()


WORKER_THEN_SIGKILL = """
import asyncio, os, signal, sys
from kuroshio.crawler.workers import ExtractionWorkers

if __name__ == "__main__":
    workers = ExtractionWorkers(1, ())
    body = b"<html><head><title>t</title></head><body><p>short</p></body></html>"
    try:
        asyncio.run(workers.read(body, url="http://news.test/a", source="s", content_type="text/html",
                                 publisher=None, feed_published_at=None))
    except ValueError:
        pass
    print(*workers._executor._processes, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_crawl_process_leaves_no_worker_behind(tmp_path: Path) -> None:
    script = tmp_path / "crawl_process.py"
    script.write_text(WORKER_THEN_SIGKILL, encoding="utf-8")
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    assert finished.returncode == -signal.SIGKILL, finished.stderr
    [worker_pid] = [int(pid) for pid in finished.stdout.split()]

    deadline = time.monotonic() + 60  # a deadline, not a bound: a worker usually goes within a second
    while _is_running(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _is_running(worker_pid)


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
