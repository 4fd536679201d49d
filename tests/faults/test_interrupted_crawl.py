"""A crawl shows what it is doing and stops when told (issue #13, item 3): a live progress line on a
terminal, an INFO progress line in the log otherwise; Ctrl-C (or SIGTERM) stops after the pages in flight,
says so, exits 130 (143) and records the run `interrupted` with its lease given back; a second signal
stops at once.

The fixtures are `fixtures/hostile/interrupted-crawl/` (see its README): the crawl stores one article and
waits on the second, which the test's server holds back. Every command is the real `kuroshio crawl`;
each test waits (with a deadline) for what it needs to see, never for a fixed time.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_web import KUROSHIO, kuroshio, stored_articles
from hostile_crawl import CRAWL_TIMEOUT, HOSTILE, HoldingWeb, hostile_config, last_run

pytestmark = pytest.mark.faults

CASE = HOSTILE / "interrupted-crawl"
SITE = "http://slow.news.test"
FIRST = f"{SITE}/news/first"
HELD = f"{SITE}/news/held"
SOURCE = (f'[[sources]]\nname = "slow"\nfeeds = ["{SITE}/feed.xml"]\n'
          "article_url_pattern = '/news/'\nrobots_sitemaps = false\n")
HOLD_TIMEOUT = 120.0
WAIT = 60.0
GRACEFUL_LINES = {
    signal.SIGINT: "kuroshio: interrupted: stopping after the pages in flight (Ctrl-C again to stop at once)",
    signal.SIGTERM: "kuroshio: terminated: stopping after the pages in flight (a second SIGTERM to stop at once)",
}
# What the crawl has done while it waits on the held page: robots.txt, the feed and the first article.
PROGRESS = "slow 3 fetched · 1 stored · 0 errors"


@dataclass
class HeldCrawl:
    """A `kuroshio crawl` waiting on the held page, and what it wrote to stderr so far."""

    web: HoldingWeb
    config: Path
    folder: Path
    process: subprocess.Popen[str]
    stderr: Callable[[], str]

    def wait_for_stderr(self, text: str | re.Pattern[str]) -> str:
        """stderr once it holds `text` (a string or a pattern)."""
        found = (lambda output: text.search(output)) if isinstance(text, re.Pattern) else (lambda output: text in output)
        wait_until(lambda: found(self.stderr()), what=f"{text!r} on the crawl's stderr", detail=self.stderr)
        return self.stderr()

    def finish(self) -> int:
        """Answer the held page and wait for the crawl's exit status."""
        self.web.release.set()
        return self.process.wait(timeout=CRAWL_TIMEOUT)


def wait_until(condition: Callable[[], object], *, what: str, detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT} s waiting for {what}\n{detail()[-3000:]}")
        time.sleep(0.1)


@contextmanager
def held_crawl(folder: Path, *options: str, settings: str = "", terminal: bool = False) -> Iterator[HeldCrawl]:
    """`kuroshio [options] crawl` of the slow site, yielded once it stored the first article and asked for
    the held one; its stderr a file, or a pseudo-terminal with `terminal`. `settings` are added to the
    config's `scrapy_settings`."""
    with HoldingWeb(HELD, hold_timeout=HOLD_TIMEOUT, roots=[CASE]) as web:
        config = hostile_config(folder, proxy=web.proxy_url, sources=SOURCE)
        if settings:
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("KUROSHIO_HOSTS = {}", f"KUROSHIO_HOSTS = {{}}, {settings}"), encoding="utf-8")
        command = [str(KUROSHIO), *options, "--config", str(config), "crawl"]
        with _stderr(folder, terminal=terminal) as (stderr_target, read_stderr):
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_target, text=True)
            crawl = HeldCrawl(web, config, folder, process, read_stderr)
            try:
                assert web.held.wait(CRAWL_TIMEOUT), f"the crawl never asked for the held page\n{read_stderr()}"
                wait_until(lambda: [a["url"] for a in stored_articles(config)] == [FIRST], what="the first article")
                yield crawl
            finally:
                web.release.set()
                if process.poll() is None:
                    process.kill()
                process.wait(timeout=CRAWL_TIMEOUT)


@contextmanager
def _stderr(folder: Path, *, terminal: bool) -> Iterator[tuple[int, Callable[[], str]]]:
    """A stderr for the crawl (a file, or the far end of a pseudo-terminal) and how to read it so far."""
    if not terminal:
        path = folder / "stderr.txt"
        with path.open("w") as stream:
            yield stream.fileno(), lambda: path.read_text(encoding="utf-8", errors="replace")
        return
    controller, far_end = pty.openpty()
    received = bytearray()

    def read() -> str:
        while select.select([controller], [], [], 0)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the crawl closed the terminal's far end
                break
            if not chunk:
                break
            received.extend(chunk)
        return received.decode("utf-8", errors="replace")

    try:
        yield far_end, read
    finally:
        os.close(far_end)
        os.close(controller)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_crawl_after_the_pages_in_flight_and_records_it_interrupted(tmp_path, signum):
    with held_crawl(tmp_path) as crawl:
        crawl.process.send_signal(signum)
        crawl.wait_for_stderr(GRACEFUL_LINES[signum])
        assert crawl.process.poll() is None, "the crawl waits for the page in flight"
        code = crawl.finish()
        stdout = crawl.process.communicate()[0]
    assert code == 128 + signum, crawl.stderr()
    assert crawl.stderr().strip() == GRACEFUL_LINES[signum], "one line, no traceback"
    run = last_run(tmp_path, "slow")
    name = signal.Signals(signum).name
    assert run["status"] == "interrupted"
    assert run["message"] == f"interrupted ({name}): stopped after the pages in flight"
    assert run["articles_new"] == 2, "the page in flight was stored"
    assert re.search(r"^slow\s+interrupted\s+4\s+0\s+2\b", stdout, re.MULTILINE), stdout
    assert sorted(article["url"] for article in stored_articles(crawl.config)) == [FIRST, HELD]


def test_the_lease_of_an_interrupted_crawl_is_free_for_the_next_one(tmp_path):
    with held_crawl(tmp_path) as crawl:
        crawl.process.send_signal(signal.SIGINT)
        crawl.wait_for_stderr(GRACEFUL_LINES[signal.SIGINT])
        assert crawl.finish() == 130
        again = kuroshio(crawl.config, "--log-level", "INFO", "crawl")
    assert again.returncode == 0, again.stderr
    assert "already being crawled" not in again.stderr
    assert "taking over" not in again.stderr
    assert last_run(tmp_path, "slow")["status"] == "ok"


def test_a_second_signal_stops_the_crawl_at_once(tmp_path):
    with held_crawl(tmp_path) as crawl:
        crawl.process.send_signal(signal.SIGINT)
        crawl.wait_for_stderr(GRACEFUL_LINES[signal.SIGINT])
        crawl.process.send_signal(signal.SIGINT)
        code = crawl.process.wait(timeout=CRAWL_TIMEOUT)  # the held page is never answered
        stdout = crawl.process.communicate()[0]
    assert code == 130, crawl.stderr()
    assert crawl.stderr().splitlines() == [GRACEFUL_LINES[signal.SIGINT], "kuroshio: stopping at once"]
    run = last_run(tmp_path, "slow")
    assert run["status"] == "interrupted"
    assert run["message"] == "interrupted (SIGINT twice): stopped at once"
    assert run["articles_new"] == 1
    assert "slow: interrupted (SIGINT twice): stopped at once" in stdout


def test_a_crawl_on_a_terminal_shows_a_live_progress_line(tmp_path):
    with held_crawl(tmp_path, terminal=True) as crawl:
        crawl.wait_for_stderr(f"\r\x1b[K{PROGRESS}")
        crawl.process.send_signal(signal.SIGINT)
        crawl.wait_for_stderr(GRACEFUL_LINES[signal.SIGINT])
        assert crawl.finish() == 130
        crawl.process.communicate()
        terminal = crawl.stderr()
    # Each update rewrites the line; it is cleared for the interrupt's own line and at the end, for the
    # summary (on stdout): without its updates, the terminal shows that one line and nothing else.
    assert re.sub(r"\r\x1b\[K(slow [^\r]*)?", "", terminal) == f"{GRACEFUL_LINES[signal.SIGINT]}\r\n", repr(terminal)
    assert "fetched" not in terminal.rsplit("\r\x1b[K", 1)[1], "the last update was cleared"


def test_a_crawl_not_on_a_terminal_logs_its_progress_at_each_interval(tmp_path):
    with held_crawl(tmp_path, "--log-level", "INFO", settings="KUROSHIO_PROGRESS_INTERVAL = 0.2") as crawl:
        crawl.wait_for_stderr(re.compile(r"^INFO kuroshio\.crawler\.progress: crawl of slow: 3 fetched · 1 stored · "
                                         r"0 errors after \d+ s$", re.MULTILINE))
        assert crawl.finish() == 0, crawl.stderr()
    assert "\x1b[K" not in crawl.stderr(), "no live line in a log"
    assert last_run(tmp_path, "slow")["status"] == "ok"
