"""The herd due at the daemon's start (sources never crawled, or caught up within `daemon.misfire_grace`)
is spread over `daemon.start_spread` in waves of what the daemon crawls at once; a lone new source is
crawled at once (`kuroshio.scheduler.phases.staggered_starts`, `Daemon._staggered_first_runs`).

The daemon's jobs are declared against a real store with a clock the test gives (`_declare_jobs(now)`),
and read back from its (not started) scheduler: nothing runs, nothing sleeps.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kuroshio.scheduler.config import load_config
from kuroshio.scheduler.daemon import Daemon
from kuroshio.scheduler.phases import staggered_starts
from kuroshio.storage.engine import upgrade_schema
from kuroshio.storage.runs import finish_run, start_run

NOW = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
FIVE_MINUTES = 300.0


def make_daemon(folder: Path, names: list[str], *, daemon: str) -> Daemon:
    """A daemon (not started) over `names`, one feed each, its store's schema in place."""
    sources = "".join(f'\n[[sources]]\nname = "{name}"\nfeeds = ["http://{name}.test/feed.xml"]\n' for name in names)
    config = folder / "kuroshio.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{folder / "kuroshio.db"}"\n\n[daemon]\n{daemon}\n{sources}',
                      encoding="utf-8")
    made = Daemon(load_config(config), log_level="INFO")
    upgrade_schema(made.engine)
    return made


def crawled(daemon: Daemon, names: list[str], *, at: datetime) -> None:
    """Record an ok crawl of each of `names` started `at`."""
    with daemon.sessions() as session:
        for name in names:
            run_id = start_run(session, name, now=at)
            finish_run(session, run_id, status="ok", pages_fetched=1, articles_new=0, articles_relevant=0,
                       duplicates_skipped=0, errors=[], now=at)


def first_runs(daemon: Daemon) -> dict[str, float]:
    """Seconds after NOW of each crawl job's first run, as declared."""
    daemon._declare_jobs(NOW)
    return {job.args[0]: (job.next_run_time - NOW).total_seconds()
            for job in daemon.scheduler.get_jobs() if job.id.startswith("crawl:")}


def test_a_thousand_sources_due_at_start_are_let_in_a_wave_of_processes_at_a_time_over_the_window():
    offsets = staggered_starts({f"site-{number}": FIVE_MINUTES for number in range(1000)}, wave=80,
                               spread=FIVE_MINUTES)
    per_start = Counter(offsets.values())
    assert sorted(per_start) == [FIVE_MINUTES * wave / 13 for wave in range(13)]  # ceil(1000 / 80) waves
    assert sorted(per_start.values()) == [40] + [80] * 12
    assert per_start[0.0] == 80, "a full wave at once: the processes are free"
    assert max(offsets.values()) < FIVE_MINUTES


def test_a_herd_no_larger_than_one_wave_starts_at_once():
    assert set(staggered_starts({f"site-{number}": FIVE_MINUTES for number in range(80)}, wave=80,
                                spread=FIVE_MINUTES).values()) == {0.0}
    assert staggered_starts({"kyodo": FIVE_MINUTES}, wave=1, spread=FIVE_MINUTES) == {"kyodo": 0.0}


def test_no_first_run_is_put_later_than_the_sources_interval():
    offsets = staggered_starts({f"site-{number}": 60.0 for number in range(100)} | {"slow": 3600.0}, wave=10,
                               spread=FIVE_MINUTES)
    assert max(offset for name, offset in offsets.items() if name != "slow") < 60.0
    assert offsets["slow"] < FIVE_MINUTES


def test_never_crawled_and_caught_up_sources_due_at_start_are_spread_over_start_spread(tmp_path: Path):
    """Sixty sources due at start, thirty never crawled and thirty whose run fell due while the daemon was
    down (within the grace time), ten crawled at once (two processes of five): six waves of ten, one
    every fifty seconds of the five minutes."""
    names = [f"site-{number}" for number in range(60)]
    daemon = make_daemon(tmp_path, names, daemon='every = "30m"\nmax_crawl_processes = 2\n'
                                                 'max_sources_per_process = 5\nstart_spread = "5m"')
    crawled(daemon, names[30:], at=NOW - timedelta(minutes=40))  # due ten minutes ago: caught up now
    offsets = first_runs(daemon)
    assert sorted(Counter(offsets.values()).items()) == [(50.0 * wave, 10) for wave in range(6)]
    assert {name for name, offset in offsets.items() if offset == 0.0} & set(names[30:]), "caught up ones too"


def test_a_source_added_alone_to_a_running_monitor_is_crawled_at_once(tmp_path: Path):
    """Forty sources crawled a minute ago are on their grid; the one added since is due at once, though
    the daemon crawls only two at a time: a user who adds a source expects to see it crawled now."""
    known = [f"site-{number}" for number in range(40)]
    daemon = make_daemon(tmp_path, [*known, "added"], daemon='every = "30m"\nmax_crawl_processes = 1\n'
                                                             'max_sources_per_process = 2')
    crawled(daemon, known, at=NOW - timedelta(minutes=1))
    offsets = first_runs(daemon)
    assert offsets["added"] == 0.0
    assert all(offsets[name] == 29 * 60 for name in known)  # an interval after their last run, as before


@pytest.mark.parametrize("spread", ["0s", "5m"])
def test_start_spread_zero_starts_every_source_at_once(tmp_path: Path, spread: str):
    """The check that the spread above is the option's doing: with 0s, the same sixty start together."""
    daemon = make_daemon(tmp_path, [f"site-{number}" for number in range(60)],
                         daemon=f'max_crawl_processes = 2\nmax_sources_per_process = 5\nstart_spread = "{spread}"')
    starts = set(first_runs(daemon).values())
    assert starts == {0.0} if spread == "0s" else len(starts) == 6


def test_sources_whose_missed_run_is_past_the_grace_time_fall_due_at_their_own_grid_times(tmp_path: Path):
    """Missed by more than `misfire_grace`, a run is skipped; the next falls at the source's own place in
    its interval, at least an interval away, not at the same now + interval for every source so skipped."""
    names = [f"site-{number}" for number in range(50)]
    daemon = make_daemon(tmp_path, names, daemon='every = "5m"\nmisfire_grace = "1m"')
    crawled(daemon, names, at=NOW - timedelta(hours=2))
    offsets = first_runs(daemon)
    assert all(FIVE_MINUTES <= offset < 2 * FIVE_MINUTES for offset in offsets.values())
    assert len(set(offsets.values())) == len(names)
