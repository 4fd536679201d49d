"""Sending a digest: hand the message to the SMTP server, then mark its articles delivered.

Exactly once, as far as SMTP allows: articles are marked delivered (`digest_deliveries`) in one
transaction after the server accepted the message, never before. A server that is down or refuses
leaves everything owed and the attempt recorded as failed with the error; the next run sends all
that is still owed in one digest. A crash after the server accepted but before the mark was
committed sends that one digest again (with the same Message-ID when no article was added). That one
process at a time sends a digest is the scheduler's part (`kuroshio.scheduler.digests`).

Settings: `[smtp]` — host, port, security (none, starttls, ssl), username, password_env (the
password is read from that environment variable when sending, never from the file, never logged),
sender, timeout; `[[digests]]` — which, to whom, and `send_empty`.

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
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from kuroshio.digest.compose import compose_owed
from kuroshio.digest.message import build_message, envelope_address
from kuroshio.digest.options import DigestConfig, SmtpConfig
from kuroshio.storage.digests import finish_digest_attempt, mark_digest_delivered, start_digest_attempt
from kuroshio.storage.models import DigestAttempt

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
    """Compose what `digest` owes, send it and mark it delivered; returns the recorded attempt.

    The attempt ends 'ok' (the server accepted; articles marked), 'empty' (nothing owed and
    `send_empty` off: nothing sent), or 'failed' (SMTP down, refusing, or misconfigured: nothing
    marked, the error recorded). SMTP problems never raise; any other exception is recorded as a
    failed attempt and raised. The caller makes sure no other process sends the same digest meanwhile
    (`kuroshio.scheduler.digests` holds its lease). `source_names` and `topic_names` are the configured
    ones (see `compose_owed`).
    """
    composed_at = _stamp(now)
    with sessions() as session:
        attempt_id = start_digest_attempt(session, digest.name, pid=os.getpid(), now=composed_at)
        try:
            content = compose_owed(session, digest, source_names=source_names, topic_names=topic_names,
                                   since=since, now=composed_at)
            count = content.article_count
            if count == 0 and not digest.send_empty:
                logger.info("digest %s: nothing new, nothing sent", digest.name)
                return finish_digest_attempt(session, attempt_id, status="empty", articles_count=0,
                                             now=_stamp(now))
            message = build_message(content, digest=digest, sender=smtp.sender, now=composed_at)
        except ValueError as error:  # a sender address that is no address: the config needs fixing
            logger.error("digest %s not sent: %s", digest.name, error)
            return finish_digest_attempt(session, attempt_id, status="failed", articles_count=0,
                                         error=str(error), now=_stamp(now))
        except Exception as error:
            _record_unexpected(session, attempt_id, error, now=_stamp(now))
            raise
        message_id = str(message["Message-ID"])
        try:
            refused = deliver(smtp, message, recipients=digest.to, ssl_context=ssl_context)
        except DeliveryError as error:
            logger.warning("digest %s not sent, %d articles stay owed: %s", digest.name, count, error)
            return finish_digest_attempt(session, attempt_id, status="failed", articles_count=count,
                                         error=str(error), message_id=message_id, now=_stamp(now))
        # Accepted: from here until the commit below, a crash would send this digest again.
        partial = "refused recipients: " + "; ".join(f"{a}: {r}" for a, r in refused.items()) if refused else None
        try:
            attempt = mark_digest_delivered(session, attempt_id, article_ids=content.article_ids,
                                            message_id=message_id, error=partial, now=_stamp(now))
        except Exception as error:
            logger.error("digest %s was accepted by the server but could not be marked delivered; its %d "
                         "articles will be sent again", digest.name, count)
            _record_unexpected(session, attempt_id, error, now=_stamp(now))
            raise
        if partial:
            logger.warning("digest %s: %s", digest.name, partial)
        logger.info("digest %s sent: %d articles, %s", digest.name, count, message_id)
        return attempt


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
