"""Sources on one interval fall due at their own places in it (`kuroshio.scheduler.phases`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kuroshio.scheduler.phases import EPOCH, PhasedIntervalTrigger, phase

FIVE_MINUTES = 300.0


def test_a_thousand_sources_on_one_interval_are_spread_across_it():
    phases = sorted(phase(f"site-{number}", FIVE_MINUTES) for number in range(1000))
    assert all(0 <= value < FIVE_MINUTES for value in phases)
    per_minute = [sum(1 for value in phases if minute * 60 <= value < (minute + 1) * 60) for minute in range(5)]
    assert min(per_minute) > 150, per_minute  # 200 each on average
    assert phase("site-1", FIVE_MINUTES) == phase("site-1", FIVE_MINUTES), "the same at every start"


def test_runs_after_an_off_grid_first_run_keep_to_the_sources_grid_an_interval_apart_at_least():
    trigger = PhasedIntervalTrigger("kyodo", seconds=FIVE_MINUTES)
    first = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)  # the daemon's start: off the grid
    second = trigger.get_next_fire_time(first, first)
    third = trigger.get_next_fire_time(second, second)
    assert first + timedelta(seconds=FIVE_MINUTES) <= second < first + timedelta(seconds=2 * FIVE_MINUTES)
    assert third - second == timedelta(seconds=FIVE_MINUTES)
    assert [trigger.get_next_fire_time(third, third) - third] == [timedelta(seconds=FIVE_MINUTES)]
    offset = (second - EPOCH).total_seconds() % FIVE_MINUTES
    assert abs(offset - phase("kyodo", FIVE_MINUTES)) < 1e-3


def test_two_sources_started_together_fall_due_apart():
    start = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
    due = {name: PhasedIntervalTrigger(name, seconds=FIVE_MINUTES).get_next_fire_time(start, start)
           for name in ("kyodo", "focus-taiwan")}
    assert due["kyodo"] != due["focus-taiwan"]
