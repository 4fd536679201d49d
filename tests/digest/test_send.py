"""Sending digests to a real SMTP server on 127.0.0.1: exactly once, failures recorded, nothing lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from digest_support import NOW, SmtpServer, parse_message, parts, seed_article, tls_contexts
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

import kuroshio.digest.send
from kuroshio.scheduler.digests import send_due_digest
from kuroshio.scheduler.locks import LeaseHeld, acquire, release
from kuroshio.storage.digests import (
    delivered_article_ids,
    last_digest_attempts,
    list_digest_attempts,
    owed_articles,
    start_digest_attempt,
)
from kuroshio.storage.models import Article, ArticleTopic, DigestAttempt, DigestDelivery, Source
from kuroshio.storage.records import ExtractedArticle


def delivered(sessions: sessionmaker[Session], digest: str = "morning") -> set[int]:
    with sessions() as session:
        return delivered_article_ids(session, digest)


def attempts(sessions: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    """(digest, status, articles) of every attempt, oldest first."""
    with sessions() as session:
        return [(a.digest, a.status, a.articles_count) for a in reversed(list_digest_attempts(session, limit=None))]


def test_send_delivers_one_message_with_every_owed_article_and_marks_them(
    make_config, sessions, seeded: dict[str, int], smtp_server: SmtpServer
) -> None:
    config = make_config(topics=["taiwan-japan"])
    attempt = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)

    assert attempt.status == "ok" and attempt.articles_count == 3 and attempt.error is None
    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == "kuroshio@example.org"
    assert envelope.rcpt_tos == ["analyst@example.org"]
    message = parse_message(envelope.content)
    assert message["Message-ID"] == attempt.message_id
    assert message["Subject"] == "Kuroshio morning: 3 new articles"
    text, html = parts(message)
    for case in ("focus-taiwan-kung", "kyodo-ko", "taiwan-news-lai"):
        url = seed_article(case).url
        assert url in text and f'href="{url}"' in html
    assert delivered(sessions) == set(seeded.values())
    assert attempts(sessions) == [("morning", "ok", 3)]


def test_a_second_send_sends_nothing_new(make_config, sessions, seeded, smtp_server: SmtpServer) -> None:
    config = make_config()
    send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    again = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(days=1))
    assert again.status == "empty" and again.articles_count == 0
    assert len(smtp_server.envelopes) == 1
    assert attempts(sessions) == [("morning", "ok", 3), ("morning", "empty", 0)]


def test_send_empty_sends_a_digest_saying_nothing_is_new(make_config, sessions, seeded, smtp_server) -> None:
    config = make_config(send_empty=True)
    send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    empty = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(days=1))
    assert empty.status == "ok" and empty.articles_count == 0
    first, second = smtp_server.messages
    assert second["Subject"] == "Kuroshio morning: 0 new articles"
    assert "Nothing new since the last digest." in parts(second)[0]
    assert second["Message-ID"] != first["Message-ID"]


def test_only_new_articles_follow_and_each_digest_is_delivered_separately(
    make_config, sessions, seeded, store, smtp_server: SmtpServer
) -> None:
    config = make_config(digests='[[digests]]\nname = "morning"\nto = ["a@example.org"]\n'
                                 '[[digests]]\nname = "chips"\ntopics = ["semiconductors"]\nto = ["b@example.org"]\n')
    morning, chips = config.digests
    send_due_digest(config, morning, sessions=sessions, now=NOW)
    later = store(ExtractedArticle(url="https://news.example/kumamoto", canonical_url="https://news.example/kumamoto",
                                   source="kyodo", title="Kumamoto chip plant: Taiwan's TSMC and Japan expand",
                                   text="TSMC of Taiwan and Japan's Sony expand the semiconductor plant. Japan pays."),
                  now=NOW + timedelta(hours=1))
    second = send_due_digest(config, morning, sessions=sessions, now=NOW + timedelta(days=1))
    chip_digest = send_due_digest(config, chips, sessions=sessions, now=NOW + timedelta(days=1))

    assert (second.status, second.articles_count) == ("ok", 1)
    assert delivered(sessions, "morning") == {*seeded.values(), later}
    assert (chip_digest.status, chip_digest.articles_count) == ("ok", 3)  # Kung and Ko mention chips; Kumamoto
    assert delivered(sessions, "chips") == {seeded["focus-taiwan-kung"], seeded["kyodo-ko"], later}
    text = parts(smtp_server.messages[1])[0]
    assert "*Kumamoto* *chip* plant" in text and "Ko calls" not in text  # Kumamoto: a place of @Japan
    assert "Last digest: 2025-12-03 00:30." in text  # this digest's time zone is UTC


def test_smtp_server_down_marks_nothing_and_the_next_run_sends_everything_owed_once(
    make_config, sessions, seeded, store, smtp_server: SmtpServer
) -> None:
    config = make_config()
    smtp_server.stop()
    failed = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert failed.status == "failed" and failed.articles_count == 3
    assert f"cannot reach 127.0.0.1:{smtp_server.port}" in failed.error
    assert delivered(sessions) == set()

    later = store(seed_article("kyodo-ko", url="https://news.example/later", canonical_url="https://news.example/later",
                               title="Japan and Taiwan: the later story", text="A later story on Taiwan and Japan."))
    smtp_server.start()
    sent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(hours=1))
    again = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(hours=2))

    assert (sent.status, sent.articles_count) == ("ok", 4)
    assert again.status == "empty"
    (message,) = smtp_server.messages
    assert message["Subject"] == "Kuroshio morning: 4 new articles"
    assert delivered(sessions) == {*seeded.values(), later}
    with sessions() as session:
        assert last_digest_attempts(session)["morning"].status == "empty"
        statuses = [(a.status, a.error is not None) for a in list_digest_attempts(session, digest="morning")]
    assert statuses == [("empty", False), ("ok", False), ("failed", True)]


def test_smtp_server_refusing_with_554_marks_nothing_and_records_the_reply(
    make_config, sessions, seeded, smtp_server: SmtpServer
) -> None:
    config = make_config()
    smtp_server.refuse("554 5.7.1 Transaction failed: policy")
    failed = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert failed.status == "failed"
    assert failed.error == f"127.0.0.1:{smtp_server.port} answered 554 5.7.1 Transaction failed: policy"
    assert smtp_server.envelopes == [] and delivered(sessions) == set()

    smtp_server.refuse(None)
    sent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(hours=1))
    assert sent.status == "ok" and len(smtp_server.envelopes) == 1 and delivered(sessions) == set(seeded.values())


def test_a_crash_between_accepted_and_marked_resends_that_one_digest_with_the_same_message_id(
    make_config, sessions, seeded, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed after the server accepted")

    with monkeypatch.context() as patch:
        patch.setattr(kuroshio.digest.send, "record_delivery", crash)
        with pytest.raises(RuntimeError, match="killed after"):
            send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert len(smtp_server.envelopes) == 1 and delivered(sessions) == set()  # the crash path was reached

    resent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(hours=1))
    nothing = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW + timedelta(hours=2))
    first, second = smtp_server.messages
    assert resent.status == "ok" and second["Message-ID"] == first["Message-ID"]
    assert nothing.status == "empty" and len(smtp_server.envelopes) == 2
    assert attempts(sessions)[0] == ("morning", "failed", 0)


def test_a_digest_being_sent_by_another_process_is_not_sent_twice(make_config, sessions, seeded, smtp_server) -> None:
    config = make_config()
    with sessions() as session:
        acquire(session, "digest:morning", owner="another-process", ttl=600)
    with pytest.raises(LeaseHeld, match="digest:morning is held by"):
        send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert smtp_server.envelopes == [] and attempts(sessions) == []

    with sessions() as session:
        release(session, "digest:morning", owner="another-process")
    assert send_due_digest(config, config.digests[0], sessions=sessions, now=NOW).status == "ok"


def test_an_attempt_left_running_by_a_killed_sender_is_recorded_as_interrupted(
    make_config, sessions, seeded, smtp_server
) -> None:
    config = make_config()
    with sessions() as session:
        start_digest_attempt(session, "morning", pid=999_999, now=NOW - timedelta(hours=1))
    sent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert sent.status == "ok"
    assert attempts(sessions) == [("morning", "interrupted", 0), ("morning", "ok", 3)]
    with sessions() as session:
        interrupted = list_digest_attempts(session)[-1]
    assert interrupted.error == "process 999999 ended before finishing the attempt"


def test_login_over_starttls_uses_the_password_from_the_environment_and_never_logs_it(
    make_config, sessions, seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    secret = "s3cret-Passw0rd"
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == secret.encode(), handled=False)

    server_context, client_context = tls_contexts(tmp_path)
    server = SmtpServer(options={"authenticator": authenticator, "auth_required": True, "tls_context": server_context,
                                 "require_starttls": True}).start()
    try:
        config = make_config(smtp={"username": "kuroshio", "password_env": "TEST_SMTP_PASSWORD", "port": server.port,
                                   "security": "starttls"})
        caplog.set_level(logging.DEBUG)

        def send():
            return send_due_digest(config, config.digests[0], sessions=sessions, now=NOW, ssl_context=client_context)

        monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
        refused = send()
        monkeypatch.delenv("TEST_SMTP_PASSWORD")
        missing = send()
        monkeypatch.setenv("TEST_SMTP_PASSWORD", secret)
        sent = send()
    finally:
        server.stop()
    assert refused.status == "failed" and "535" in refused.error and "wrong-password" not in refused.error
    assert missing.status == "failed" and "$TEST_SMTP_PASSWORD is empty or not set" in missing.error
    assert sent.status == "ok" and len(server.envelopes) == 1
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up
    assert set(logins[:-1]) == {(b"kuroshio", b"wrong-password")} and logins[-1] == (b"kuroshio", secret.encode())
    assert secret not in caplog.text and "wrong-password" not in caplog.text


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_implicit_tls_deliver_with_a_verified_certificate(
    make_config, sessions, seeded, tmp_path: Path, security: str
) -> None:
    server_context, client_context = tls_contexts(tmp_path)
    options = {"tls_context": server_context, "require_starttls": True} if security == "starttls" else {
        "ssl_context": server_context}
    server = SmtpServer(options=options).start()
    try:
        config = make_config(smtp={"security": security, "port": server.port})
        untrusted = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
        sent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW, ssl_context=client_context)
    finally:
        server.stop()
    assert untrusted.status == "failed" and "certificate verify failed" in untrusted.error
    assert sent.status == "ok" and len(server.envelopes) == 1


def test_a_sender_that_is_no_address_is_a_recorded_failure(make_config, sessions, seeded, smtp_server) -> None:
    config = make_config(smtp={"sender": "Kuroshio"})
    failed = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    assert failed.status == "failed" and "smtp.sender: expected an address" in failed.error
    assert smtp_server.envelopes == []


def test_a_ten_thousand_article_backlog_is_one_capped_message_and_all_of_it_is_delivered(
    make_config, sessions, smtp_server: SmtpServer
) -> None:
    config = make_config(max_articles=50)
    published = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with sessions() as session, session.begin():
        source = Source(name="kyodo")
        session.add(source)
        session.flush()
        rows = [
            {"source_id": source.id, "url": f"https://news.example/{n}", "canonical_url": f"https://news.example/{n}",
             "title": f"Taiwan and Japan report {n}", "authors": [], "text": f"Report {n} on Taiwan and Japan.",
             "content_sha256": f"{n:064x}", "published_at": published + timedelta(minutes=n),
             "first_seen_at": published + timedelta(minutes=n)}
            for n in range(10_000)
        ]
        session.execute(insert(Article), rows)
        ids = session.scalars(select(Article.id)).all()
        session.execute(insert(ArticleTopic), [
            {"article_id": article_id, "topic": "taiwan-japan", "score": 3.0, "terms": ["Taiwan", "Japan"]}
            for article_id in ids
        ])
    sent = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    again = send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)

    assert (sent.status, sent.articles_count, again.status) == ("ok", 10_000, "empty")
    (message,) = smtp_server.messages
    text, html = parts(message)
    assert text.count("\n* ") == 50 and "9950 more articles not shown" in text
    assert "*Japan* report 9999\r\n" in text and "*Japan* report 9950\r\n" in text
    assert "*Japan* report 9949\r\n" not in text
    assert len(delivered(sessions)) == 10_000


def test_owed_articles_are_relevant_undelivered_and_filtered_by_date(sessions, seeded, store) -> None:
    off_topic = store(ExtractedArticle(url="https://news.example/weather", canonical_url="https://news.example/weather",
                                       source="kyodo", title="Weather", text="Sunny in Osaka."))
    with sessions() as session, session.begin():
        session.add(DigestDelivery(digest="evening", article_id=seeded["kyodo-ko"], delivered_at=NOW, message_id="<x@y>"))
    with sessions() as session:
        owed = [a.id for a in owed_articles(session, digest="evening")]
        since = [a.id for a in owed_articles(session, digest="evening", since=datetime(2025, 6, 1, tzinfo=timezone.utc))]
        chips = [a.id for a in owed_articles(session, digest="morning", topics=["semiconductors", "nothing"])]
    assert owed == [seeded["focus-taiwan-kung"], seeded["taiwan-news-lai"]] and off_topic not in owed
    assert since == [seeded["focus-taiwan-kung"]]
    assert chips == [seeded["focus-taiwan-kung"], seeded["kyodo-ko"]]


def test_deleting_an_article_deletes_its_deliveries(sessions, seeded, make_config, smtp_server) -> None:
    config = make_config()
    send_due_digest(config, config.digests[0], sessions=sessions, now=NOW)
    with sessions() as session, session.begin():
        session.delete(session.get(Article, seeded["kyodo-ko"]))
    assert delivered(sessions) == {seeded["focus-taiwan-kung"], seeded["taiwan-news-lai"]}
    with sessions() as session:
        assert session.scalar(select(DigestAttempt.status)) == "ok"
