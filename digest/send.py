"""Sending a digest: hand it to each of its targets (the SMTP server for `to`, each Apprise URL of
`notify` and `notify_env`: `kuroshio.digest.notify`), then mark what each accepted.

Exactly once per target, as far as the target allows: what a target accepted is recorded in one
transaction after it accepted, never before (`record_delivery`: a delivery of the digest once every
target has it, a partial one for that target meanwhile). A target that is down or refuses keeps what
it lacks owed to it, and the attempt is recorded as failed, naming it; the next run sends it what it
still lacks and sends the targets that accepted nothing twice. A crash after a target accepted but
before the mark was committed sends that one message again, to that target (an email with the same
Message-ID when no article was added). An instant digest (`mode = "instant"`) sends one message per
story (its syndicated copies folded in, `kuroshio.digest.stories`), so such a crash repeats one story.
That one process at a time sends a digest is the scheduler's part (`kuroshio.scheduler.digests`).

Settings: `[smtp]` — host, port, security (none, starttls, ssl), username, password_env (the
password is read from that environment variable when sending, never from the file, never logged),
sender, timeout; `[[digests]]` — which, to whom (`to`, `notify`, `notify_env`), `mode` and `send_empty`.

The login is Kuroshio's own (`log_in`), not smtplib's, which encodes user name and password as ASCII
and so can never log in with a password like "pässwörd" (https://github.com/python/cpython/issues/73936):
the credentials go out as UTF-8, as RFC 4616 has it for PLAIN. An error naming the server's answer
never shows the password, as typed or in the base64 forms the login sent (a server may echo them).
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from kuroshio.digest.compose import compose_digest
from kuroshio.digest.health import FIRST_DIGEST_LOOKBACK, source_problems
from kuroshio.digest.message import build_message, envelope_address
from kuroshio.digest.notify import NotifyError
from kuroshio.digest.notify import digest_targets as apprise_targets
from kuroshio.digest.options import DigestConfig, SmtpConfig
from kuroshio.digest.stories import fold_copies
from kuroshio.digest.targets import EMAIL_TARGET, AppriseChannel, Letter, Target, digest_letter, story_letter
from kuroshio.storage.digests import (
    finish_digest_attempt,
    first_digest_attempt_at,
    last_digest_sent_at,
    owed_articles,
    partial_deliveries,
    record_delivery,
    settle_deliveries,
    start_digest_attempt,
)
from kuroshio.storage.models import DigestAttempt
from kuroshio.storage.runs import runs_started_since

logger = logging.getLogger(__name__)

class DeliveryError(Exception):
    """The SMTP server did not accept the message (for any recipient); the text says why."""


def deliver(
    smtp: SmtpConfig,
    message: EmailMessage,
    *,
    recipients: Sequence[str],
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, str]:
    """Hand `message` to the SMTP server for `recipients`.

    Returns the recipients the server refused (address → reply) when it accepted the message for the
    others; raises DeliveryError when it accepted it for nobody, or could not be reached. The
    password, when `smtp.username` is set, comes from `os.environ[smtp.password_env]`.
    """
    password = _password(smtp)
    context = ssl_context or ssl.create_default_context()
    try:
        sender = envelope_address(smtp.sender)
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username:
                log_in(client, smtp.username, password or "")
            refused = client.send_message(message, from_addr=sender, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError, ValueError) as error:
        raise DeliveryError(_describe(error, smtp, _secret_forms(smtp.username, password))) from None
    return {address: _reply(code, reply) for address, (code, reply) in refused.items()}


def _password(smtp: SmtpConfig) -> str | None:
    if not smtp.username:
        return None
    password = os.environ.get(smtp.password_env)
    if not password:
        raise DeliveryError(
            f"smtp.username is set but the password variable ${smtp.password_env} is empty or not set"
        )
    return password


def _describe(error: Exception, smtp: SmtpConfig, secrets: Sequence[str]) -> str:
    """The error in one line, naming the server; none of `secrets` (the password's forms) appears in it."""
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{address}: {_reply(*reply)}" for address, reply in error.recipients.items())
        text = f"{where} refused every recipient ({refused})"
    elif isinstance(error, smtplib.SMTPResponseException):
        text = f"{where} answered {_reply(error.smtp_code, error.smtp_error)}"
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        text = f"{where} closed the connection: {error}"
    elif isinstance(error, ssl.SSLError):
        text = f"TLS with {where} failed: {error}"
    elif isinstance(error, OSError):
        text = f"cannot reach {where}: {error.strerror or error}"
    else:
        text = f"{where}: {error}"
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())


def _secret_forms(username: str, password: str | None) -> list[str]:
    """The password as typed and as the login sends it, base64-encoded alone (LOGIN) and in the PLAIN
    message: each form a server could echo in an answer. Without the base64 padding, so an echo with or
    without it is masked; longest first, so none is masked in part."""
    if not password:
        return []
    sent = [_utf8(password), _utf8(f"\0{username}\0{password}")]
    return sorted({password, *(_base64(form).rstrip("=") for form in sent)}, key=len, reverse=True)


def log_in(client: smtplib.SMTP, username: str, password: str) -> None:
    """Authenticate as smtplib's `login` does — the first mechanism the server offers of CRAM-MD5, PLAIN
    and LOGIN, then the next while the server refuses — but with the credentials encoded as UTF-8."""
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    offered = client.esmtp_features["auth"].upper().split()
    mechanisms = [name for name in _MECHANISMS if name in offered]
    if not mechanisms:
        raise smtplib.SMTPException(f"no authentication mechanism in common with the server "
                                    f"(it offers {' '.join(offered)}; Kuroshio speaks {' '.join(_MECHANISMS)})")
    for name in mechanisms:
        code, reply = _MECHANISMS[name](client, username, password)
        if code in (235, 503):  # authenticated; 503: already authenticated
            return
    raise smtplib.SMTPAuthenticationError(code, reply)  # the last mechanism's refusal, as smtplib's


def _cram_md5(client: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    code, reply = client.docmd("AUTH", "CRAM-MD5")
    if code != 334:
        return code, reply
    digest = hmac.new(_utf8(password), base64.b64decode(reply), "md5").hexdigest()
    return client.docmd(_base64(_utf8(f"{username} {digest}")))


def _plain(client: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    return client.docmd("AUTH", "PLAIN " + _base64(_utf8(f"\0{username}\0{password}")))


def _login(client: smtplib.SMTP, username: str, password: str) -> tuple[int, bytes]:
    code, reply = client.docmd("AUTH", "LOGIN " + _base64(_utf8(username)))
    if code != 334:
        return code, reply
    return client.docmd(_base64(_utf8(password)))


# In smtplib's order of preference: CRAM-MD5 first, as it never sends the password itself.
_MECHANISMS: dict[str, Callable[[smtplib.SMTP, str, str], tuple[int, bytes]]] = {
    "CRAM-MD5": _cram_md5, "PLAIN": _plain, "LOGIN": _login}


def _utf8(text: str) -> bytes:
    """`text` in UTF-8; a variable's bytes that were no UTF-8 (decoded by Python with surrogateescape)
    go out as they were set, and no encoding error quotes a character of the password."""
    return text.encode("utf-8", "surrogateescape")


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _reply(code: int, reply: bytes | str) -> str:
    message = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(message.split())}"


@dataclass(frozen=True)
class EmailTarget:
    """The digest's recipients (`digests[].to`) as one target: one message to all of them."""

    smtp: SmtpConfig
    digest: DigestConfig
    ssl_context: ssl.SSLContext | None = None
    key: str = EMAIL_TARGET

    @property
    def label(self) -> str:
        return "email to " + ", ".join(self.digest.to)

    def send(self, letter: Letter) -> str | None:
        """Hand the letter to the SMTP server as an email whose Subject is its title; a warning naming the
        recipients it refused, if any. DeliveryError when it accepted it for nobody; ValueError for a sender
        that is no address."""
        message = letter_message(letter, digest=self.digest, sender=self.smtp.sender)
        refused = deliver(self.smtp, message, recipients=self.digest.to, ssl_context=self.ssl_context)
        return "refused recipients: " + "; ".join(f"{a}: {r}" for a, r in refused.items()) if refused else None


def letter_message(letter: Letter, *, digest: DigestConfig, sender: str) -> EmailMessage:
    """The email a letter goes out as: its content's message with the letter's title as Subject.
    ValueError for a sender that is no address."""
    message = build_message(letter.content, digest=digest, sender=sender, now=letter.content.generated_at)
    message.replace_header("Subject", letter.title)
    return message


def digest_targets(digest: DigestConfig, *, smtp: SmtpConfig, ssl_context: ssl.SSLContext | None = None,
                   environ: Mapping[str, str] | None = None) -> list[Target]:
    """Where `digest` goes: its recipients by email (when it has some), then its Apprise URLs.
    NotifyError when `notify_env` names a variable that is empty or holds a URL Apprise cannot use."""
    targets: list[Target] = [EmailTarget(smtp, digest, ssl_context)] if digest.to else []
    targets += [AppriseChannel(target) for target in apprise_targets(digest.notify, digest.notify_env, environ)]
    return targets


def send_digest(
    digest: DigestConfig,
    sessions: sessionmaker[Session],
    *,
    smtp: SmtpConfig,
    source_names: Sequence[str],
    topic_names: Sequence[str],
    now: datetime | None = None,
    since: datetime | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> DigestAttempt:
    """Compose what `digest` owes, send it to each of its targets and mark what each accepted; returns
    the recorded attempt.

    A digest (`mode = "digest"`) is one message per target with everything that target has not
    accepted yet; an instant digest one message per story. The attempt ends 'ok' (every target
    accepted), 'empty' (nothing owed and `send_empty` off: nothing sent), or 'failed' (a target down,
    refusing or misconfigured: what it did not accept stays owed to it, the errors recorded, each
    naming its target). Delivery problems never raise; any other exception is recorded as a failed
    attempt and raised. The caller makes sure no other process sends the same digest meanwhile
    (`kuroshio.scheduler.digests` holds its lease). `source_names` and `topic_names` are the configured
    ones (see `compose_owed`).
    """
    composed_at = _stamp(now)
    with sessions() as session:
        attempt_id = start_digest_attempt(session, digest.name, pid=os.getpid(), now=composed_at)
        try:
            targets = digest_targets(digest, smtp=smtp, ssl_context=ssl_context)
            settle_deliveries(session, digest=digest.name, targets=[target.key for target in targets], now=composed_at)
            if digest.mode == "instant":
                plan = instant_plan(session, digest, targets, topic_names=topic_names, since=since,
                                     sender=smtp.sender, now=composed_at)
            else:
                plan = _digest_plan(session, digest, targets, source_names=source_names, topic_names=topic_names,
                                    since=since, sender=smtp.sender, now=composed_at)
        except NotifyError as error:  # a notify_env variable unset or holding a bad URL: the config needs fixing
            logger.error("digest %s not sent: %s", digest.name, error)
            return finish_digest_attempt(session, attempt_id, status="failed", articles_count=0,
                                         error=str(error), now=_stamp(now))
        except Exception as error:
            _record_unexpected(session, attempt_id, error, now=_stamp(now))
            raise
        if plan.owed == 0 and not plan.letters:
            logger.info("digest %s: nothing new, nothing sent", digest.name)
            return finish_digest_attempt(session, attempt_id, status="empty", articles_count=0, now=_stamp(now))
        failures, warnings = _deliver_letters(session, digest, targets, plan, attempt_id, now=now)
        several = len(targets) > 1
        if failures:
            problems = "; ".join(failures.values())
            logger.warning("digest %s not sent%s, what was not accepted stays owed: %s", digest.name,
                           " to every target" if several and len(failures) < len(targets) else "", problems)
            return finish_digest_attempt(session, attempt_id, status="failed", articles_count=plan.owed,
                                         error=problems, message_id=plan.letters[0][0].message_id, now=_stamp(now))
        for warning in warnings:
            logger.warning("digest %s: %s", digest.name, warning)
        message_id = plan.letters[0][0].message_id if plan.letters else None
        logger.info("digest %s sent: %d articles in %d messages, %s", digest.name, plan.owed, len(plan.letters),
                    message_id)
        return finish_digest_attempt(session, attempt_id, status="ok", articles_count=plan.owed,
                                     error="; ".join(warnings) or None, message_id=message_id, now=_stamp(now))


@dataclass(frozen=True)
class Plan:
    """What one attempt sends: each letter with the keys of the targets it goes to (none: every target
    has it already, and it is not sent); `owed` articles in all."""

    letters: list[tuple[Letter, list[str]]]
    owed: int


def _digest_plan(session: Session, digest: DigestConfig, targets: Sequence[Target], *, source_names: Sequence[str],
                 topic_names: Sequence[str], since: datetime | None, sender: str, now: datetime) -> Plan:
    """One letter per set of owed articles: targets that accepted part of it earlier get the rest only."""
    articles = owed_articles(session, digest=digest.name, topics=digest.topics, since=since)
    accepted = partial_deliveries(session, digest.name)
    last_sent_at = last_digest_sent_at(session, digest.name)
    window_start = last_sent_at or now - FIRST_DIGEST_LOOKBACK
    problems = source_problems(source_names, runs_started_since(session, window_start))
    groups: dict[tuple[int, ...], list[str]] = {}
    for target in targets:
        lacking = tuple(article.id for article in articles if article.id not in accepted.get(target.key, ()))
        if lacking or digest.send_empty and not articles:
            groups.setdefault(lacking, []).append(target.key)
    letters = []
    for lacking, keys in groups.items():
        wanted = set(lacking)
        content = compose_digest(digest, [article for article in articles if article.id in wanted],
                                 topic_names=digest.topics or tuple(topic_names), problems=problems,
                                 last_sent_at=last_sent_at, problems_since=window_start, now=now)
        letters.append((digest_letter(content, subject=digest.subject, sender=sender, now=now), keys))
    return Plan(letters, len(articles))


def instant_plan(session: Session, digest: DigestConfig, targets: Sequence[Target], *, topic_names: Sequence[str],
                 since: datetime | None, sender: str, now: datetime) -> Plan:
    """One letter per story first seen since the digest was first attempted, oldest first, to each
    target that has not accepted all of its copies. A digest's first attempt alerts nothing: it starts
    the watch, so that switching alerts on does not send the archive. It only reads the store, so
    `kuroshio digest` previews an instant digest with it."""
    watching_since = first_digest_attempt_at(session, digest.name) or now
    articles = owed_articles(session, digest=digest.name, topics=digest.topics, since=since, seen_since=watching_since)
    articles.sort(key=lambda article: (article.published_at or article.first_seen_at, article.id), reverse=True)
    accepted = partial_deliveries(session, digest.name)
    letters = []
    for story in reversed(fold_copies(articles, shown_limit=digest.max_articles)):
        ids = {article.id for article in story}
        keys = [target.key for target in targets if not ids <= accepted.get(target.key, set())]
        content = compose_digest(digest, story, topic_names=digest.topics or tuple(topic_names),
                                 problems_since=now, now=now)
        letters.append((story_letter(content, sender=sender, now=now), keys))
    return Plan(letters, len(articles))


def _deliver_letters(session: Session, digest: DigestConfig, targets: Sequence[Target], plan: Plan,
                     attempt_id: int, *, now: datetime | None) -> tuple[dict[str, str], list[str]]:
    """Send each letter to its targets and record what each accepted, at once; a target that failed is
    not tried again in this attempt. Returns the failures (label → error naming it) and the warnings."""
    by_key = {target.key: target for target in targets}
    failures: dict[str, str] = {}
    warnings: list[str] = []
    for letter, keys in plan.letters:
        for key in keys:
            target = by_key[key]
            if target.label in failures:
                continue
            try:
                warning = target.send(letter)
            except NotifyError as error:  # its text names the URL by its label
                failures[target.label] = str(error)
                continue
            except (DeliveryError, ValueError) as error:  # named when the email is not the only target
                failures[target.label] = f"{target.label}: {error}" if len(targets) > 1 else str(error)
                continue
            if warning:
                warnings.append(warning)
            # Accepted: from here until record_delivery commits, a crash would send this letter again.
            try:
                record_delivery(session, digest=digest.name, target=key, targets=list(by_key),
                                article_ids=letter.content.article_ids, message_id=letter.message_id,
                                now=_stamp(now))
            except Exception as error:
                logger.error("digest %s was accepted by %s but could not be marked delivered; its %d articles "
                             "will be sent there again", digest.name, target.label, letter.content.article_count)
                _record_unexpected(session, attempt_id, error, now=_stamp(now))
                raise
    return failures, warnings


def _stamp(now: datetime | None) -> datetime:
    """The time to record: the injected `now`, else the moment the record is written."""
    return now or datetime.now(timezone.utc)


def _record_unexpected(session: Session, attempt_id: int, error: Exception, *, now: datetime) -> None:
    """Best effort: leave a failed attempt behind an unexpected error (the error itself is re-raised)."""
    try:
        session.rollback()
        finish_digest_attempt(session, attempt_id, status="failed", articles_count=0,
                              error=f"{type(error).__name__}: {error}", now=now)
    except Exception:  # the database itself may be what failed; the original error is what matters
        logger.exception("could not record the failed digest attempt %d", attempt_id)
