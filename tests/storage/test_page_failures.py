from datetime import datetime, timedelta, timezone

from kuroshio.storage import page_failures
from kuroshio.storage.articles import known_links
from kuroshio.storage.models import MAX_ERROR_REASON_CHARS, MAX_URL_LENGTH
from kuroshio.storage.models import PageFailure as PageFailureRow
from kuroshio.storage.page_failures import FAILED_PAGE_RECHECK, record_page_failures
from kuroshio.storage.records import PageFailure

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def test_a_page_gone_for_good_is_known_until_the_recheck_time(session):
    record_page_failures(session, "kyodo", [PageFailure("http://k.test/articles/-/1", "HTTP 404", permanent=True)],
                         now=NOW)
    gone = ["http://k.test/articles/-/1"]
    assert known_links(session, gone, now=NOW + timedelta(days=1)) == set(gone)
    assert known_links(session, gone, now=NOW + FAILED_PAGE_RECHECK + timedelta(seconds=1)) == set()


def test_a_transient_failure_is_recorded_but_retried_by_the_next_crawl(session):
    record_page_failures(session, "kyodo", [PageFailure("http://k.test/articles/-/2", "HTTP 503", permanent=False)],
                         now=NOW)
    assert known_links(session, ["http://k.test/articles/-/2"], now=NOW) == set()
    assert session.query(PageFailureRow).one().reason == "HTTP 503"


def test_repeated_failures_of_one_page_count_attempts_in_one_row(session):
    url = "http://k.test/articles/-/3"
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 503", permanent=False)], now=NOW)
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 410", permanent=True)], now=NOW + timedelta(hours=1))
    row = session.query(PageFailureRow).one()
    assert (row.attempts, row.reason, row.permanent) == (2, "HTTP 410", True)
    assert row.first_failed_at == NOW and row.last_failed_at == NOW + timedelta(hours=1)
    assert url in known_links(session, [url], now=NOW + timedelta(hours=2))


def test_a_page_failing_twice_in_one_crawl_counts_two_attempts_and_keeps_the_last_reason(session):
    url = "http://k.test/articles/-/4"
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 503", permanent=False),
                                            PageFailure("http://k.test/articles/-/5", "HTTP 404", permanent=True),
                                            PageFailure(url, "HTTP 410", permanent=True)], now=NOW)
    row = session.query(PageFailureRow).filter_by(url=url).one()
    assert (row.attempts, row.reason, row.permanent) == (2, "HTTP 410", True)
    assert session.query(PageFailureRow).count() == 2


def test_failures_past_one_write_are_all_recorded_and_known_ones_keep_their_first_failure(session, monkeypatch):
    monkeypatch.setattr(page_failures, "PAGE_FAILURES_PER_WRITE", 3)
    urls = [f"http://k.test/articles/-/{number}" for number in range(10)]
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 503", permanent=False) for url in urls[:4]], now=NOW)
    later = NOW + timedelta(hours=1)
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 404", permanent=True) for url in urls], now=later)
    rows = {row.url: row for row in session.query(PageFailureRow)}
    assert sorted(rows) == sorted(urls)
    assert {url: (row.attempts, row.first_failed_at, row.reason) for url, row in rows.items()} == {
        url: (2, NOW, "HTTP 404") if url in urls[:4] else (1, later, "HTTP 404") for url in urls}
    assert all(row.permanent and row.last_failed_at == later for row in rows.values())


def test_a_url_past_the_length_limit_is_recorded_again_under_its_stored_form(session):
    url = "http://k.test/articles/-/6?q=" + "x" * MAX_URL_LENGTH
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 404", permanent=True)], now=NOW)
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 404", permanent=True)], now=NOW + timedelta(hours=1))
    row = session.query(PageFailureRow).one()
    assert (row.url, row.attempts) == (url[:MAX_URL_LENGTH], 2)


def test_reasons_past_the_length_limit_are_cut(session):
    record_page_failures(session, "kyodo", [PageFailure("http://k.test/articles/-/7", "x" * 2000, permanent=False)],
                         now=NOW)
    assert session.query(PageFailureRow).one().reason == "x" * MAX_ERROR_REASON_CHARS


def test_crawls_recording_the_same_failed_pages_at_once_count_every_attempt(sessions, run_together, monkeypatch):
    monkeypatch.setattr(page_failures, "PAGE_FAILURES_PER_WRITE", 7)
    urls = [f"http://k.test/articles/-/{number}" for number in range(40)]
    crawls = 4

    def record(index: int) -> None:
        with sessions() as session:
            record_page_failures(session, f"source-{index}", [PageFailure(url, "HTTP 404", permanent=True) for url in urls],
                                 now=NOW + timedelta(minutes=index))

    run_together(crawls, record)
    with sessions() as session:
        assert {row.url: row.attempts for row in session.query(PageFailureRow)} == dict.fromkeys(urls, crawls)
