"""Discovery documents' validators: a 200 replaces what was kept of a URL, a 304 keeps it and records
only when and how it answered; what cannot be sent back or replayed is not kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import event
from sqlalchemy.orm import Session

from kuroshio.storage.models import MAX_KEPT_DOCUMENT_BYTES, MAX_VALIDATOR_CHARS, DocumentValidators
from kuroshio.storage.validators import DocumentAnswer, StoredValidators, record_document_answers, stored_validators

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
FEED = "http://news.example/feed.xml"
ROBOTS = "http://news.example/robots.txt"


def test_a_200_is_kept_and_a_304_keeps_it(session: Session) -> None:
    assert stored_validators(session, FEED) is None
    record_document_answers(session, [DocumentAnswer(FEED, 200, etag='"v1"', last_modified="Mon, 01 Dec 2025 00:00:00 GMT"),
                                      DocumentAnswer(ROBOTS, 200, etag='"r1"', body=b"Sitemap: /s.xml\n")], now=NOW)
    record_document_answers(session, [DocumentAnswer(FEED, 304), DocumentAnswer(ROBOTS, 304)],
                            now=NOW + timedelta(minutes=5))
    assert stored_validators(session, FEED) == StoredValidators('"v1"', "Mon, 01 Dec 2025 00:00:00 GMT", None)
    assert stored_validators(session, ROBOTS) == StoredValidators('"r1"', None, b"Sitemap: /s.xml\n")
    row = session.query(DocumentValidators).filter_by(url=FEED).one()
    assert (row.last_status, row.checked_at) == (304, NOW + timedelta(minutes=5))


def test_a_new_200_replaces_the_validators_and_one_without_any_leaves_none_to_send(session: Session) -> None:
    record_document_answers(session, [DocumentAnswer(FEED, 200, etag='"v1"')], now=NOW)
    record_document_answers(session, [DocumentAnswer(FEED, 200, etag='"v2"')], now=NOW)
    assert stored_validators(session, FEED) == StoredValidators('"v2"', None, None)
    record_document_answers(session, [DocumentAnswer(FEED, 200)], now=NOW)
    assert stored_validators(session, FEED) is None


def test_validators_and_bodies_too_big_to_send_back_or_replay_are_not_kept(session: Session) -> None:
    record_document_answers(session, [
        DocumentAnswer(FEED, 200, etag='"' + "x" * MAX_VALIDATOR_CHARS + '"', last_modified="Mon, 01 Dec 2025 00:00:00 GMT"),
        DocumentAnswer(ROBOTS, 200, etag='"r"', body=b"#" * (MAX_KEPT_DOCUMENT_BYTES + 1)),
    ], now=NOW)
    assert stored_validators(session, FEED) == StoredValidators(None, "Mon, 01 Dec 2025 00:00:00 GMT", None)
    assert stored_validators(session, ROBOTS) == StoredValidators('"r"', None, None)


def test_answers_that_change_nothing_write_nothing(session: Session) -> None:
    # An unchanged poll: every document answers 304 again, or 200 with what is kept already.
    record_document_answers(session, [DocumentAnswer(FEED, 200, etag='"v1"'),
                                      DocumentAnswer(ROBOTS, 200, etag='"r1"', body=b"Sitemap: /s.xml\n")], now=NOW)
    record_document_answers(session, [DocumentAnswer(FEED, 304)], now=NOW + timedelta(minutes=5))
    statements: list[str] = []
    engine = session.get_bind()
    listen = event.listens_for(engine, "before_cursor_execute")
    record = listen(lambda connection, cursor, statement, *args: statements.append(statement.split()[0].upper()))
    try:
        record_document_answers(session, [DocumentAnswer(FEED, 304),
                                          DocumentAnswer(ROBOTS, 200, etag='"r1"', body=b"Sitemap: /s.xml\n")],
                                now=NOW + timedelta(minutes=10))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "SELECT" in statements and not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
    row = session.query(DocumentValidators).filter_by(url=FEED).one()
    assert (row.last_status, row.checked_at) == (304, NOW + timedelta(minutes=5))  # since when it answers so
    assert stored_validators(session, ROBOTS) == StoredValidators('"r1"', None, b"Sitemap: /s.xml\n")


def test_an_answer_that_changes_one_document_writes_only_that_one(session: Session) -> None:
    record_document_answers(session, [DocumentAnswer(FEED, 200, etag='"v1"'), DocumentAnswer(ROBOTS, 200, etag='"r1"')],
                            now=NOW)
    record_document_answers(session, [DocumentAnswer(FEED, 304), DocumentAnswer(ROBOTS, 200, etag='"r2"')],
                            now=NOW + timedelta(minutes=5))
    assert stored_validators(session, ROBOTS) == StoredValidators('"r2"', None, None)
    assert stored_validators(session, FEED) == StoredValidators('"v1"', None, None)
    row = session.query(DocumentValidators).filter_by(url=FEED).one()
    assert (row.last_status, row.checked_at) == (304, NOW + timedelta(minutes=5))
