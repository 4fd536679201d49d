"""`kuroshio digest NAME` of an instant digest previews what `--send` would send now: each alert, oldest
first, as its title and text (the email of each with `--eml`), and before the watch has started none.

Each test runs the real command against the real SMTP server and a real Apprise JSON endpoint on
127.0.0.1 (tests/webhook.py), then sends, and holds the preview against what was sent.
"""

from __future__ import annotations

import mailbox
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from digest_support import SmtpServer, parse_message, parts, seed_article
from test_digest_cli import kuroshio_here
from webhook import Webhook

from kuroshio.digest.notify import apprise_target
from kuroshio.storage.digests import delivered_article_ids, list_digest_attempts, partial_deliveries


def attempts(sessions) -> list[str]:
    with sessions() as session:
        return [attempt.status for attempt in list_digest_attempts(session, digest="morning", limit=None)]


def store_news(store) -> None:
    """Two new stories, stored after the watch started: Lai's with a mirror's copy, and Ko's."""
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    lai, ko = seed_article("taiwan-news-lai"), seed_article("kyodo-ko")
    # Texts of their own: a body already stored is an alias of that article, not news.
    store(seed_article("taiwan-news-lai", url="http://wire.test/lai", canonical_url="http://wire.test/lai",
                       source="wire", text=lai.text + " (wire)"), now=later)
    store(seed_article("taiwan-news-lai", url="http://mirror.test/lai", canonical_url="http://mirror.test/lai",
                       source="mirror", text=lai.text + " (mirror)", title=lai.title + " - Mirror"), now=later)
    store(seed_article("kyodo-ko", url="http://wire.test/ko", canonical_url="http://wire.test/ko",
                       source="wire", text=ko.text + " (wire)"), now=later)


def alert_blocks(preview: str) -> list[tuple[str, str]]:
    """The preview's alerts: (the line naming where it goes, its title and text)."""
    blocks = []
    for chunk in preview.split("--- alert ")[1:]:
        heading, _, alert = chunk.partition(" ---\n")
        blocks.append((heading, alert.rstrip("\n")))
    return blocks


def test_before_the_watch_starts_the_preview_shows_no_alert_and_says_the_first_send_only_starts_it(
    make_config, sessions, seeded, webhook: Webhook, smtp_server: SmtpServer
) -> None:
    config = make_config(mode="instant", notify=[webhook.url()])
    preview = kuroshio_here(config, "digest", "morning")
    assert (preview.returncode, preview.stdout) == (0, b""), preview.stderr
    assert preview.stderr.decode() == (
        "dry run: instant digest 'morning' would send 0 alerts (its watch has not started: the first --send only "
        "starts it and alerts nothing); wrote their text; nothing sent or marked\n")
    assert attempts(sessions) == []  # the preview did not start the watch

    started = kuroshio_here(config, "digest", "morning", "--send")
    assert started.stdout.decode() == "digest 'morning': nothing new, nothing sent\n"  # as the preview said
    assert webhook.posts == [] and smtp_server.envelopes == []


def test_the_preview_shows_each_alert_send_then_sends_oldest_first_and_marks_nothing(
    make_config, sessions, seeded, store, webhook: Webhook, smtp_server: SmtpServer
) -> None:
    config = make_config(mode="instant", notify=[webhook.url()])
    assert kuroshio_here(config, "digest", "--send").returncode == 0  # starts the watch
    store_news(store)

    preview = kuroshio_here(config, "digest")
    assert preview.returncode == 0, preview.stderr
    assert preview.stderr.decode() == ("dry run: instant digest 'morning' would send 2 alerts; wrote their text; "
                                       "nothing sent or marked\n")
    assert attempts(sessions) == ["empty"] and webhook.posts == [] and smtp_server.envelopes == []
    with sessions() as session:
        assert delivered_article_ids(session, "morning") == set()

    sent = kuroshio_here(config, "digest", "--send")
    assert sent.returncode == 0, sent.stderr
    label = apprise_target(webhook.url()).label
    blocks = alert_blocks(preview.stdout.decode())
    assert [heading for heading, _ in blocks] == [f"1 of 2, to email to analyst@example.org, {label}",
                                                   f"2 of 2, to email to analyst@example.org, {label}"]
    assert [alert for _, alert in blocks] == [f"{post.body['title']}\n\n{post.body['message'].rstrip()}"
                                              for post in webhook.posts]  # the same alerts, in the same order
    assert [message["Subject"] for message in smtp_server.messages] == [post.body["title"] for post in webhook.posts]
    assert "Also reported by:\n- wire: " in blocks[0][1] + blocks[1][1]

    again = kuroshio_here(config, "digest")
    assert (again.returncode, again.stdout) == (0, b"")
    assert "would send 0 alerts (nothing new);" in again.stderr.decode()


def test_an_alert_a_target_already_took_is_previewed_to_the_other_target_only(
    make_config, sessions, seeded, store, webhook: Webhook, smtp_server: SmtpServer
) -> None:
    config = make_config(mode="instant", notify=[webhook.url()])
    assert kuroshio_here(config, "digest", "--send").returncode == 0
    store_news(store)
    webhook.fail_with = 500
    assert kuroshio_here(config, "digest", "--send").returncode == 1  # the email took both, the endpoint none
    webhook.fail_with = None
    with sessions() as session:
        assert set(partial_deliveries(session, "morning")) == {"email"}

    preview = kuroshio_here(config, "digest")
    label = apprise_target(webhook.url()).label
    assert [heading for heading, _ in alert_blocks(preview.stdout.decode())] == [f"1 of 2, to {label}",
                                                                                  f"2 of 2, to {label}"]
    mailed = kuroshio_here(config, "digest", "--eml")  # the email took both: none would be emailed
    assert (mailed.returncode, mailed.stdout) == (0, b"")
    assert "would send 2 alerts; wrote the 0 going by email (mbox);" in mailed.stderr.decode()
    emailed = len(smtp_server.envelopes)
    assert kuroshio_here(config, "digest", "--send").returncode == 0
    assert len(smtp_server.envelopes) == emailed and [post.answered for post in webhook.posts][-2:] == [200, 200]


@pytest.mark.parametrize("flags", [("--eml",), ("--out", "alerts.mbox")])
def test_eml_and_out_give_the_alerts_emails_as_one_mbox(
    make_config, sessions, seeded, store, smtp_server: SmtpServer, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    config = make_config(mode="instant")
    assert kuroshio_here(config, "digest", "--send").returncode == 0
    store_news(store)
    arguments = [flag if flag != "alerts.mbox" else str(tmp_path / flag) for flag in flags]
    preview = kuroshio_here(config, "digest", *arguments)
    assert preview.returncode == 0, preview.stderr
    assert "would send 2 alerts; wrote the 2 going by email (mbox)" in preview.stderr.decode()
    path = tmp_path / "alerts.mbox"
    if flags == ("--eml",):
        path.write_bytes(preview.stdout)
    else:
        assert preview.stdout == b""
    previewed = [parse_message(message.as_bytes()) for message in mailbox.mbox(path, create=False)]

    assert kuroshio_here(config, "digest", "--send").returncode == 0
    sent = smtp_server.messages
    assert [(m["Subject"], m["Message-ID"], m["To"]) for m in previewed] == [
        (m["Subject"], m["Message-ID"], m["To"]) for m in sent]
    # The text below its heading (which names the time it was composed), an mbox's line ends being LF.
    assert [parts(m)[0].splitlines()[3:] for m in previewed] == [parts(m)[0].splitlines()[3:] for m in sent]


def test_out_html_is_refused_for_an_instant_digest_and_txt_holds_the_alerts_text(
    make_config, sessions, seeded, store, tmp_path: Path
) -> None:
    config = make_config(mode="instant")
    assert kuroshio_here(config, "digest", "--send").returncode == 0
    store_news(store)
    refused = kuroshio_here(config, "digest", "--out", str(tmp_path / "alerts.html"))
    assert refused.returncode == 2 and not (tmp_path / "alerts.html").exists()
    assert refused.stderr.decode() == (
        f"kuroshio: --out {tmp_path / 'alerts.html'}: digest 'morning' is instant, one message per story, which one "
        "HTML file cannot hold; write FILE.txt (the alerts' text) or FILE.mbox (their emails)\n")

    written = kuroshio_here(config, "digest", "--out", str(tmp_path / "alerts.txt"))
    shown = kuroshio_here(config, "digest")
    assert written.returncode == 0 and f"wrote their text to {tmp_path / 'alerts.txt'}" in written.stderr.decode()
    assert (tmp_path / "alerts.txt").read_bytes() == shown.stdout and shown.stdout.count(b"--- alert ") == 2


def test_a_notify_env_unset_here_is_one_line_and_exit_1(make_config, sessions, seeded) -> None:
    config = make_config(mode="instant", notify_env="KUROSHIO_TEST_NOTIFY_UNSET")
    preview = kuroshio_here(config, "digest")
    assert (preview.returncode, preview.stdout) == (1, b"")
    assert preview.stderr.decode() == (
        "kuroshio: digest 'morning': notify_env is set but the variable $KUROSHIO_TEST_NOTIFY_UNSET is empty or "
        "not set; --send would fail now and send nothing\n")
