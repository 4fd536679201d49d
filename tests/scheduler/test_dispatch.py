"""The daemon's batching rule (`kuroshio.scheduler.dispatch.CrawlQueue`), on a clock the test moves."""

from __future__ import annotations

from kuroshio.scheduler.dispatch import Admission, CrawlQueue


def queue(*, processes: int = 2, sources: int = 3, gather: float = 1.0) -> CrawlQueue:
    return CrawlQueue(max_processes=processes, max_sources=sources, gather=gather)


def test_sources_due_together_share_a_process_once_it_is_full():
    crawls = queue()
    for source in "abcd":
        assert crawls.add(source, now=0.0) is Admission.QUEUED
    assert crawls.take(now=0.0) == ["a", "b", "c"]
    assert crawls.take(now=0.0) == [], "d waits for others to join it"
    assert crawls.seconds_to_wait(now=0.25) == 0.75


def test_a_lone_source_waits_the_gathering_window_and_no_longer():
    crawls = queue()
    crawls.add("a", now=10.0)
    assert crawls.take(now=10.9) == []
    crawls.add("b", now=10.9)
    assert crawls.take(now=11.0) == ["a", "b"], "the window counts from the oldest source's arrival"


def test_no_more_processes_than_allowed_and_the_next_starts_when_one_ends():
    crawls = queue(processes=1, sources=2)
    for source in "abcde":
        crawls.add(source, now=0.0)
    first = crawls.take(now=0.0)
    assert first == ["a", "b"]
    assert crawls.take(now=100.0) == [], "the one process slot is taken"
    assert crawls.seconds_to_wait(now=100.0) is None, "only a process's end can start the next"
    crawls.finished(first)
    assert crawls.take(now=100.0) == ["c", "d"]


def test_a_source_queued_or_running_is_not_queued_twice():
    crawls = queue(sources=2)
    crawls.add("a", now=0.0)
    assert crawls.add("a", now=0.5) is Admission.WAITING
    crawls.add("b", now=0.5)
    batch = crawls.take(now=0.5)
    assert batch == ["a", "b"]
    assert crawls.add("a", now=1.0) is Admission.RUNNING
    assert crawls.take(now=5.0) == [], "nothing was queued"
    crawls.finished(batch)
    assert crawls.add("a", now=6.0) is Admission.QUEUED


def test_an_empty_queue_waits_for_a_source_not_a_time():
    crawls = queue()
    assert crawls.take(now=0.0) == []
    assert crawls.seconds_to_wait(now=0.0) is None


def test_the_queue_is_full_only_when_every_process_slot_is_taken():
    crawls = queue(processes=1, sources=1, gather=0.0)
    crawls.add("a", now=0.0)
    assert not crawls.full, "a waits for nothing but the dispatcher"
    assert crawls.take(now=0.0) == ["a"]
    crawls.add("b", now=0.0)
    assert crawls.full and crawls.take(now=0.0) == []
    crawls.finished(["a"])
    assert not crawls.full
