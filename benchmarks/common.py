"""What every benchmark shares: the machine it ran on, config files, measured subprocesses, memory, timing.

Benchmarks print figures and never assert times: a slow shared runner must not fail anything. They
run offline: the only server is `fixtures.server.FixtureWeb` on 127.0.0.1.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KUROSHIO_SHARED_DIR", REPO.parent / "shared"))  # shared/ beside the clone
KUROSHIO = [str(Path(sys.executable).parent / "kuroshio")] if (Path(sys.executable).parent / "kuroshio").exists() \
    else [sys.executable, "-m", "kuroshio.scheduler"]


def machine_summary() -> str:
    """One paragraph naming the machine and the library versions, for RESULTS.md."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:")), 0)
    import sqlite3

    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("scrapy", "trafilatura", "lxml", "SQLAlchemy", "Twisted"))
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs ({cpu}), "
            f"{memory_kib / 1024 / 1024:.1f} GiB RAM; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, {versions}, SQLite {sqlite3.sqlite_version}")


def write_config(path: Path, *, database_url: str, proxy: str, sources_toml: str, extra: str = "",
                 concurrency: int = 32) -> Path:
    """A Kuroshio config crawling `sources_toml` through the fixture proxy as fast as the machine allows:
    no delay, no AutoThrottle, robots.txt obeyed, `concurrency` requests per domain, and the whole site
    (no lookback window, no page cap: the synthetic web is dated 2025 and holds thousands of pages)."""
    path.write_text(
        f'[storage]\nurl = "{database_url}"\n\n'
        f'[crawl]\nproxy = "{proxy}"\ndownload_delay = 0.0\nautothrottle = false\nobey_robots = true\n'
        f'concurrent_per_domain = {concurrency}\ntimeout = 30\nretry_times = 1\nmax_age = "0d"\nmax_pages = 0\n'
        f"scrapy_settings = {{ CONCURRENT_REQUESTS = {concurrency * 2} }}\n\n"
        f"{extra}\n{sources_toml}",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Measured:
    """A finished subprocess: exit status, wall time, CPU time, peak resident memory, and its output."""

    returncode: int
    seconds: float
    cpu_seconds: float
    max_rss_mib: float
    stdout: str
    stderr: str
    # This process's CPU meanwhile: the fixture server's thread, when it serves.
    server_cpu_seconds: float = 0.0
    # Every CPU's busy time meanwhile (/proc/stat): the process, its workers, the server and anything else.
    machine_cpu_seconds: float = 0.0


def machine_busy_seconds() -> float:
    """CPU seconds every CPU of the machine has been busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def run_measured(command: Sequence[str], *, cpus: set[int] | None = None, timeout: float = 1200,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run `command`, pinned to `cpus` if given; its own peak RSS comes from wait4's rusage."""
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        own_cpu, busy = time.process_time(), machine_busy_seconds()
        process = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=err, env=env, cwd=cwd,
                                   preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        server_cpu, machine_cpu = time.process_time() - own_cpu, machine_busy_seconds() - busy
        process.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it; Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Measured(process.returncode, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode(errors="replace"),
                        err.read().decode(errors="replace"), server_cpu, machine_cpu)


def proc_status_kib(pid: int, field: str) -> int | None:
    """A memory field of /proc/<pid>/status in KiB (VmRSS: resident now; VmHWM: peak), None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def crawl_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(CPU for the measured process, CPU for the fixture server), or (None, None) on a one-CPU machine.

    The throughput target is per core: the crawl (and the bare loop) get one CPU to themselves, while
    the fixture server, which a real crawl would not host, runs on another.
    """
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


def median_ms(call: Callable[[], object], *, runs: int = 7, warmup: int = 1) -> float:
    """Median wall time of `call` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file, removing any earlier database and its WAL files there."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path.resolve()}"


def remove_tree(path: Path) -> None:
    """Remove a benchmark's scratch directory (unless KUROSHIO_BENCH_KEEP is set, for a look inside)."""
    if os.environ.get("KUROSHIO_BENCH_KEEP"):
        print(f"kept {path}")
        return
    shutil.rmtree(path, ignore_errors=True)


def replace_section(document: str, new_section: str) -> str:
    """`document` (RESULTS.md) with the `## ` section that `new_section` heads (its first line) replaced, up
    to the next `## ` heading, or appended when it has none yet."""
    heading = new_section.splitlines()[0]
    start = document.find(heading + "\n")
    if start < 0:
        return document.rstrip("\n") + "\n\n" + new_section
    end = document.find("\n## ", start + len(heading))
    rest = document[end + 1:] if end >= 0 else ""
    return document[:start] + new_section + ("\n" + rest if rest else "")


def short_commit() -> str:
    """The commit the working tree is at, abbreviated."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
