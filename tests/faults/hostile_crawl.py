"""Helpers for the bad-input fault tests: hostile fixture roots, configs, and a crawl whose peak memory
is measured.

Each case under `fixtures/hostile/<case>/` is a fixture-web root of its own (one host directory beside
its README and expectations), served by `FixtureWeb` exactly as the bundled web is.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fixture_web import KUROSHIO, REPO, stored_articles, write_config

from kuroshio.fixtures.server import FixtureWeb, Response
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.runs import list_runs

HOSTILE = REPO / "fixtures" / "hostile"
CRAWL_TIMEOUT = 180
# Peak memory a crawl of one hostile case may reach. An ordinary crawl of a fixture site peaks at
# 115-155 MiB; reading the 64 MiB oversize page whole took the crawl past 1.4 GiB, and a 10 MB bomb
# inflated whole is 10 MB of body before any parsing.
MEMORY_CEILING = 300 * 2**20

__all__ = ["HOSTILE", "MEMORY_CEILING", "MeasuredCrawl", "crawl_measured", "hostile_config", "last_run",
           "run_measured", "stored_articles"]


def hostile_config(folder: Path, *, proxy: str, sources: str) -> Path:
    """The demo config's `[crawl]` (default page limit) with `sources`, the fixture proxy and a SQLite
    store of its own, written in `folder`."""
    return write_config(folder / "kuroshio.toml", database_url=database_url(folder), proxy=proxy, sources=sources)


def database_url(folder: Path) -> str:
    """The SQLite store of the config `hostile_config` writes in `folder`."""
    return f"sqlite:///{folder / 'kuroshio.db'}"


@dataclass(frozen=True)
class MeasuredCrawl:
    """A finished `kuroshio crawl` (or other command): exit code, output, wall time, peak resident memory,
    and the CPU time it used (user and system: unlike wall time, a busy machine hardly changes it)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_bytes: int
    cpu_seconds: float


# Runs a command and writes its peak RSS (KiB) and CPU seconds to argv[1]. The peak must be read by a
# small parent: Linux carries the RSS high-water mark across fork and exec, so a crawl started straight
# from the test process would report the test process's own size.
MEASURE_PEAK_RSS = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "child.returncode = os.waitstatus_to_exitcode(status)\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
    "sys.exit(child.returncode)\n"
)


def crawl_measured(config: Path) -> MeasuredCrawl:
    """Run the real `kuroshio crawl`; measure its wall time and its own peak RSS (it runs as one process)."""
    return run_measured([str(KUROSHIO), "--config", str(config), "crawl"])


def run_measured(command: list[str]) -> MeasuredCrawl:
    """Run `command` to its end, measuring its wall time and its peak RSS."""
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak-rss-kib"
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", MEASURE_PEAK_RSS, str(peak_file), *command],
                                capture_output=True, text=True, timeout=CRAWL_TIMEOUT, check=False)
        seconds = time.monotonic() - started
        peak_kib, cpu_seconds = peak_file.read_text().split()
    return MeasuredCrawl(result.returncode, result.stdout, result.stderr, seconds, int(peak_kib) * 1024,
                         float(cpu_seconds))


def last_run(folder: Path, source: str) -> dict:
    """The newest run record of `source` in the store of `folder`: status, message and errors."""
    engine = create_engine_for(database_url(folder))
    try:
        with session_factory(engine)() as session:
            [run] = list_runs(session, source=source, limit=1)
            return {"status": run.status, "message": run.message, "errors": list(run.errors),
                    "articles_new": run.articles_new}
    finally:
        engine.dispose()


class HoldingWeb(FixtureWeb):
    """The fixture web, holding every answer for the URL `held` back until `release` is set (or
    `hold_timeout` seconds pass), so that a test can act on a crawl while it waits on that page."""

    def __init__(self, held: str, *args: object, hold_timeout: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.held_url, self.hold_timeout = held, hold_timeout
        self.held = threading.Event()  # the crawl asked for the held URL
        self.release = threading.Event()

    def respond(self, host: str, path: str, *, url: str = "") -> Response:
        if url == self.held_url:
            self.held.set()
            self.release.wait(self.hold_timeout)
        return super().respond(host, path, url=url)
