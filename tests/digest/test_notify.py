"""Digests and instant alerts through Apprise: a real HTTP endpoint on 127.0.0.1 (tests/webhook.py)
targeted by Apprise's json:// URL, beside the real SMTP server of the other digest tests.

Exactly once per target: what a target accepted is never sent to it again, what it refused stays owed
to it alone; an instant digest sends one message per story, its copies folded in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from digest_support import NOW, SEEN_AT, SmtpServer, parts, seed_article
from test_digest_cli import kuroshio_here
from webhook import Webhook

from kuroshio.scheduler.config import ConfigError
from kuroshio.scheduler.digests import send_due_digest
from kuroshio.storage.digests import delivered_article_ids, partial_deliveries

SECRET = "Pa55-SECRET-w0rd"


def delivered(sessions, digest: str = "morning") -> set[int]:
    with sessions() as session:
        return delivered_article_ids(session, digest)


def partial(sessions, digest: str = "morning") -> dict[str, set[int]]:
    with sessions() as session:
        return partial_deliveries(session, digest)


def send(config, *, hours: float = 0):
    return send_due_digest(config, config.digests[0], now=NOW + timedelta(hours=hours))


def test_a_digest_with_only_a_notify_url_posts_its_subject_and_text_once(make_config, sessions, seeded,
                                                                        webhook: Webhook) -> None:
    config = make_config(to=[], notify=[webhook.url()])

    sent = send(config)
    again = send(config, hours=1)

    [post] = webhook.posts
    assert sent.status == "ok" and sent.articles_count == 3 and again.status == "empty"
    assert post.path == "/hook" and post.body["title"] == "Kuroshio morning: 3 new articles"
    assert post.body["message"].startswith('Kuroshio digest "morning"') and "(*賴清德*)" in post.body["message"]
    assert delivered(sessions) == set(seeded.values()) and partial(sessions) == {}


def test_an_endpoint_answering_500_is_a_recorded_failure_then_sent_once_when_it_recovers(
    make_config, sessions, seeded, webhook: Webhook
) -> None:
    config = make_config(to=[], notify=[webhook.url()])
    webhook.fail_with = 500

    failed = send(config)
    assert failed.status == "failed" and "500" in failed.error and failed.articles_count == 3
    assert len(webhook.posts) == 1 and delivered(sessions) == set()  # the failing path was reached

    webhook.fail_with = None
    sent, nothing = send(config, hours=1), send(config, hours=2)
    assert sent.status == "ok" and nothing.status == "empty"
    assert len(webhook.accepted()) == 1 and delivered(sessions) == set(seeded.values())


def test_mixed_targets_retry_only_the_one_that_failed(make_config, sessions, seeded, webhook: Webhook,
                                                     smtp_server: SmtpServer) -> None:
    config = make_config(notify=[webhook.url()])
    webhook.fail_with = 503

    failed = send(config)
    assert failed.status == "failed" and failed.error.startswith("json://127.0.0.1:")
    assert len(smtp_server.envelopes) == 1 and delivered(sessions) == set()
    assert partial(sessions) == {"email": set(seeded.values())}  # the email went; the hook still lacks it all

    webhook.fail_with = None
    sent, nothing = send(config, hours=1), send(config, hours=2)
    assert sent.status == "ok" and nothing.status == "empty"
    assert len(smtp_server.envelopes) == 1 and len(webhook.accepted()) == 1  # nothing twice to either
    assert delivered(sessions) == set(seeded.values()) and partial(sessions) == {}


def test_a_target_removed_while_it_lacked_articles_no_longer_holds_them_back(
    make_config, sessions, seeded, webhook: Webhook, smtp_server: SmtpServer
) -> None:
    webhook.fail_with = 500
    send(make_config(notify=[webhook.url()]))
    assert delivered(sessions) == set()

    nothing = send(make_config(), hours=1)  # the hook is gone from the config: the email had it all
    assert nothing.status == "empty" and len(smtp_server.envelopes) == 1
    assert delivered(sessions) == set(seeded.values()) and partial(sessions) == {}


class RootLines(logging.Handler):
    """Every record that reaches the root logger, as a program's own handlers would see it. Not caplog:
    pytest also hangs its capture handlers on loggers that do not propagate (Apprise's, once Kuroshio
    has stopped it propagating), which no program's handler sees."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def root_lines() -> Iterator[RootLines]:
    root, handler = logging.getLogger(), RootLines()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_secrets_of_a_notify_url_never_appear_in_logs_errors_or_output(
    make_config, sessions, seeded, webhook: Webhook, root_lines: RootLines
) -> None:
    url = webhook.url(credentials=f"analyst:{SECRET}")
    config = make_config(to=[], notify_env="KUROSHIO_TEST_NOTIFY")
    webhook.fail_with = 500  # it answers with the Authorization header it got, as a careless server might

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUROSHIO_TEST_NOTIFY", url)
        refused = send(config)
        logged = root_lines.text  # the CLI below replaces the root handlers (logging.basicConfig(force=True))
        output = kuroshio_here(config, "--log-level", "debug", "digest", "--send")
    assert refused.status == "failed" and output.returncode == 1
    assert webhook.posts[0].headers["Authorization"].startswith("Basic ")  # the secret did go to the server
    assert "json://analyst:***@127.0.0.1:" in refused.error
    shown = logged + refused.error + output.stdout.decode() + output.stderr.decode()
    assert "Response Details" in logged and "refused /hook Basic ***" in logged  # the echo, masked
    for form in (SECRET, webhook.posts[0].headers["Authorization"].split()[1].rstrip("=")):
        assert form not in shown


def test_notify_env_that_is_unset_is_a_recorded_failure_naming_the_variable(make_config, sessions, seeded) -> None:
    config = make_config(to=[], notify_env="KUROSHIO_TEST_NOTIFY_UNSET")
    failed = send(config)
    assert failed.status == "failed" and delivered(sessions) == set()
    assert failed.error == "notify_env is set but the variable $KUROSHIO_TEST_NOTIFY_UNSET is empty or not set"


def test_a_notify_url_apprise_cannot_use_is_a_config_error_that_does_not_quote_it(make_config) -> None:
    with pytest.raises(ConfigError) as refused:
        make_config(notify=["slakc://T0K3N-XYZ/B0T-SECRET"])
    message = str(refused.value)
    assert "digests[0].notify[0]: not an Apprise URL: slakc://..." in message and "T0K3N" not in message


def test_a_digest_needs_a_recipient_or_a_notify_target(make_config) -> None:
    with pytest.raises(ConfigError, match=r"digests\[0\]\.to: at least one recipient is needed \(or an Apprise URL"):
        make_config(to=[])


def test_instant_alerts_post_one_message_per_new_story_with_its_copies_folded_in(
    make_config, sessions, seeded, store, webhook: Webhook, smtp_server: SmtpServer
) -> None:
    config = make_config(mode="instant", notify=[webhook.url()])
    started = send(config)  # the first look starts the watch: the archive is not alerted
    assert started.status == "empty" and webhook.posts == [] and smtp_server.envelopes == []

    later = SEEN_AT + timedelta(hours=1)
    lai, ko = seed_article("taiwan-news-lai"), seed_article("kyodo-ko")
    # New articles (texts of their own: a body already stored is an alias of that article, not news).
    original = store(seed_article("taiwan-news-lai", url="http://wire.test/lai", canonical_url="http://wire.test/lai",
                                  source="wire", text=lai.text + " (wire)"), now=later)
    copy = store(seed_article("taiwan-news-lai", url="http://mirror.test/lai", canonical_url="http://mirror.test/lai",
                              source="mirror", text=lai.text + " (mirror)", title=lai.title + " - Mirror"), now=later)
    other = store(seed_article("kyodo-ko", url="http://wire.test/ko", canonical_url="http://wire.test/ko",
                               source="wire", text=ko.text + " (wire)"), now=later)
    alerted = send(config, hours=1)
    again = send(config, hours=2)

    assert alerted.status == "ok" and alerted.articles_count == 3 and again.status == "empty"
    assert len(webhook.posts) == 2 and len(smtp_server.envelopes) == 2  # two stories, to each target once
    titles = {post.body["title"] for post in webhook.posts}
    assert titles == {lai.title + " - Mirror", ko.title}  # a story is led by its newest copy (the mirror's)
    [lai_post] = [post for post in webhook.posts if post.body["title"].startswith(lai.title)]
    assert "Also reported by:\n- wire: " + lai.title in lai_post.body["message"]
    assert {message["Subject"] for message in smtp_server.messages} == titles
    assert sorted("Also reported by:" in parts(message)[0] for message in smtp_server.messages) == [False, True]
    assert delivered(sessions) == {original, copy, other}
