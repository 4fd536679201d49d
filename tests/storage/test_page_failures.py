from datetime import datetime, timedelta, timezone

from kuroshio.storage.articles import known_urls
from kuroshio.storage.models import PageFailure as PageFailureRow
from kuroshio.storage.page_failures import FAILED_PAGE_RECHECK, record_page_failures
from kuroshio.storage.records import PageFailure

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def test_a_page_gone_for_good_is_known_until_the_recheck_time(session):
    record_page_failures(session, "kyodo", [PageFailure("http://k.test/articles/-/1", "HTTP 404", permanent=True)],
                         now=NOW)
    assert "http://k.test/articles/-/1" in known_urls(session, now=NOW + timedelta(days=1))
    assert "http://k.test/articles/-/1" not in known_urls(session, now=NOW + FAILED_PAGE_RECHECK + timedelta(seconds=1))


def test_a_transient_failure_is_recorded_but_retried_by_the_next_crawl(session):
    record_page_failures(session, "kyodo", [PageFailure("http://k.test/articles/-/2", "HTTP 503", permanent=False)],
                         now=NOW)
    assert "http://k.test/articles/-/2" not in known_urls(session, now=NOW)
    assert session.query(PageFailureRow).one().reason == "HTTP 503"


def test_repeated_failures_of_one_page_count_attempts_in_one_row(session):
    url = "http://k.test/articles/-/3"
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 503", permanent=False)], now=NOW)
    record_page_failures(session, "kyodo", [PageFailure(url, "HTTP 410", permanent=True)], now=NOW + timedelta(hours=1))
    row = session.query(PageFailureRow).one()
    assert (row.attempts, row.reason, row.permanent) == (2, "HTTP 410", True)
    assert row.first_failed_at == NOW and row.last_failed_at == NOW + timedelta(hours=1)
    assert url in known_urls(session, now=NOW + timedelta(hours=2))
