"""`kuroshio digest`: preview a digest, or send it and mark its articles delivered.

The preview is for reading: its text part on stdout, as the mail shows it; `--eml` gives the whole
message as it would be sent (headers, both parts, quoted-printable), `--out FILE` writes one to a file.
An instant digest (`mode = "instant"`) is previewed as what `--send` would send now, planned as it plans
(`kuroshio.digest.send.instant_plan`): each alert, oldest first, its title and text as Apprise gets them;
`--eml` the emails of those going to its recipients as one mbox, a format that holds several messages;
no HTML part, which is one message's.

Exit codes: 0 when the preview was written or the digest sent (or there was nothing to send), 1 when
a target (the SMTP server, an Apprise URL) did not accept it (what it lacks stays owed to it; the error
is recorded for `kuroshio status`) or an instant digest's preview cannot name its targets, 2 for a
bad config or bad arguments, 75 (as `kuroshio crawl`) when another process is sending that digest.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import SMTP
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kuroshio.digest.options import DigestConfig
from kuroshio.scheduler.cli_context import OneLineError, config_from, open_store, parse_since
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_BUSY, EXIT_FAILED

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from kuroshio.digest.targets import Letter

HTML_SUFFIXES = (".html", ".htm")
TEXT_SUFFIXES = (".txt",)


@click.command("digest")
@click.argument("name", required=False)
@click.option("--since", help="Only articles published (or first seen) since this ISO date.")
@click.option("--send", "send", is_flag=True, help="Send the digest and mark its articles delivered.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Write the message without sending or marking anything (the default).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the preview here: FILE.html the HTML part, FILE.txt the text part, any other "
                   "name the whole message (.eml; an instant digest's alerts: their emails as one mbox); "
                   "default: the text part on stdout.")
@click.option("--eml", "whole_message", is_flag=True,
              help="Preview the whole message as it would be sent (.eml: headers, both parts; an instant "
                   "digest's alerts: their emails as one mbox), not its text.")
@click.pass_context
def digest_command(ctx: click.Context, name: str | None, since: str | None, send: bool, dry_run: bool,
                   out: Path | None, whole_message: bool) -> None:
    """Build the digest of relevant articles not yet delivered to digest NAME (default: the only one)."""
    if send and dry_run:
        raise click.UsageError("give --send or --dry-run, not both")
    if send and (out is not None or whole_message):
        raise click.UsageError("--out and --eml write a preview; they cannot be combined with --send")
    config = config_from(ctx)
    digest = _select_digest(config, name)
    since_at = parse_since(since)
    sessions = open_store(config)
    if send:
        _send(ctx, config, digest, sessions, since_at)
    elif digest.mode == "instant":
        _preview_alerts(config, digest, sessions, since_at, out, whole_message=whole_message)
    else:
        _preview(config, digest, sessions, since_at, out, whole_message=whole_message)


def _select_digest(config: Config, name: str | None) -> DigestConfig:
    by_name = {digest.name: digest for digest in config.digests}
    if not by_name:
        raise click.UsageError("no digest is configured: add a [[digests]] table to the config file")
    if name is None:
        if len(by_name) > 1:
            raise click.UsageError(f"several digests are configured; name one of: {', '.join(by_name)}")
        return next(iter(by_name.values()))
    if name not in by_name:
        raise click.BadParameter(f"unknown digest {name!r} (configured: {', '.join(by_name)})", param_hint="NAME")
    return by_name[name]


def _preview(config: Config, digest: DigestConfig, sessions: sessionmaker[Session], since_at: datetime | None,
             out: Path | None, *, whole_message: bool) -> None:
    from kuroshio.digest.compose import compose_owed
    from kuroshio.digest.message import build_message, message_bytes, render_html, render_text

    with sessions() as session:
        content = compose_owed(session, digest, source_names=config.source_names,
                               topic_names=config.topic_names, since=since_at)
    try:
        message = build_message(content, digest=digest, sender=config.smtp.sender, now=content.generated_at)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    suffix = out.suffix.lower() if out is not None else ".txt"
    if whole_message:
        payload, what = message_bytes(message), "message"
    elif suffix in HTML_SUFFIXES:
        payload, what = render_html(content).encode("utf-8"), "HTML part"
    elif suffix in TEXT_SUFFIXES:
        payload, what = render_text(content).encode("utf-8"), "text part"
    else:
        payload, what = message_bytes(message), "message"
    _write(payload, out)
    owed = f"{content.article_count} article{'s' if content.article_count != 1 else ''}"
    if content.article_count == 0 and not digest.send_empty:
        owed += " (nothing new: --send would send nothing)"
    where = f" to {out}" if out is not None else ""
    click.echo(f"dry run: digest {digest.name!r} owes {owed}; wrote the {what}{where}; nothing sent or marked",
               err=True)


class AlertTargetsUnknown(OneLineError):
    """Its `notify_env` cannot be read here, so neither can what each target lacks: exit 1, as `--send`'s."""

    exit_code = EXIT_FAILED


class NoHtmlForAlerts(OneLineError):
    """`--out FILE.html`: an HTML file holds one message, an instant digest sends several. Exit 2."""

    exit_code = EXIT_BAD_CONFIG


def _preview_alerts(config: Config, digest: DigestConfig, sessions: sessionmaker[Session],
                    since_at: datetime | None, out: Path | None, *, whole_message: bool) -> None:
    """What `--send` would send now for an instant digest: its alerts' text, or as one mbox the emails of
    those going to its recipients."""
    from kuroshio.digest.notify import NotifyError
    from kuroshio.digest.send import digest_targets, instant_plan, letter_message
    from kuroshio.digest.targets import EMAIL_TARGET
    from kuroshio.storage.digests import first_digest_attempt_at

    suffix = out.suffix.lower() if out is not None else ".txt"
    if suffix in HTML_SUFFIXES and not whole_message:
        raise NoHtmlForAlerts(f"--out {out}: digest {digest.name!r} is instant, one message per story, which one "
                              "HTML file cannot hold; write FILE.txt (the alerts' text) or FILE.mbox (their emails)")
    try:
        targets = digest_targets(digest, smtp=config.smtp)
    except NotifyError as error:
        raise AlertTargetsUnknown(f"digest {digest.name!r}: {error}; --send would fail now and send nothing") from None
    now = datetime.now(timezone.utc)
    with sessions() as session:
        watching = first_digest_attempt_at(session, digest.name) is not None
        plan = instant_plan(session, digest, targets, topic_names=config.topic_names, since=since_at,
                            sender=config.smtp.sender, now=now)
    alerts = [(letter, keys) for letter, keys in plan.letters if keys]  # keyless: every target has it already
    if whole_message or suffix not in TEXT_SUFFIXES:
        emailed = [letter for letter, keys in alerts if EMAIL_TARGET in keys]
        try:
            payload = _mbox([letter_message(letter, digest=digest, sender=config.smtp.sender) for letter in emailed])
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        what = f"the {len(emailed)} going by email (mbox)"
    else:
        labels = {target.key: target.label for target in targets}
        payload, what = _alerts_text(alerts, labels).encode("utf-8"), "their text"
    _write(payload, out)
    count = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    if not watching:
        count += " (its watch has not started: the first --send only starts it and alerts nothing)"
    elif not alerts:
        count += " (nothing new)"
    where = f" to {out}" if out is not None else ""
    click.echo(f"dry run: instant digest {digest.name!r} would send {count}; wrote {what}{where}; "
               "nothing sent or marked", err=True)


def _alerts_text(alerts: Sequence[tuple[Letter, Sequence[str]]], labels: dict[str, str]) -> str:
    """Each alert under a line numbering it and naming where it goes, then its title and its text."""
    return "\n".join(f"--- alert {number} of {len(alerts)}, to {', '.join(labels[key] for key in keys)} ---\n"
                     f"{letter.title}\n\n{letter.body}" for number, (letter, keys) in enumerate(alerts, start=1))


def _mbox(messages: Sequence[EmailMessage]) -> bytes:
    """The messages as one mbox file (LF line ends, a body line starting "From " quoted as ">From "),
    each introduced by a From line of its envelope sender and date, as mail clients and `mailbox` read it."""
    from kuroshio.digest.message import envelope_address

    mbox = BytesIO()
    generator = BytesGenerator(mbox, mangle_from_=True, policy=SMTP.clone(linesep="\n"))
    for message in messages:
        sent_at = message["Date"].datetime.utctimetuple()
        message.set_unixfrom(f"From {envelope_address(message['From'])} {time.asctime(sent_at)}")
        generator.flatten(message, unixfrom=True)
        mbox.write(b"\n")
    return mbox.getvalue()


def _write(payload: bytes, out: Path | None) -> None:
    """`payload` to `out`, or as bytes to stdout (after what click wrote there)."""
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(payload)


def _send(ctx: click.Context, config: Config, digest: DigestConfig, sessions: sessionmaker[Session],
          since_at: datetime | None) -> None:
    from kuroshio.scheduler.digests import send_due_digest
    from kuroshio.scheduler.locks import LeaseHeld

    try:
        attempt = send_due_digest(config, digest, since=since_at, sessions=sessions)
    except LeaseHeld as held:
        click.echo(f"kuroshio: {held}: not sent now", err=True)
        ctx.exit(EXIT_BUSY)
    targets = _target_labels(digest)
    if attempt.status == "ok":
        message_id = f", Message-ID {attempt.message_id}" if digest.to else ""
        click.echo(f"sent digest {digest.name!r} to {', '.join(targets)}: {attempt.articles_count} articles{message_id}")
        if attempt.error:
            click.echo(f"kuroshio: warning: {attempt.error}", err=True)
    elif attempt.status == "empty":
        click.echo(f"digest {digest.name!r}: nothing new, nothing sent")
    else:
        owed = "stay owed" if len(targets) == 1 else "stay owed to the targets that did not accept them"
        click.echo(f"kuroshio: digest {digest.name!r} not sent: {attempt.error}; "
                   f"its {attempt.articles_count} articles {owed}", err=True)
        ctx.exit(1)


def _target_labels(digest: DigestConfig) -> list[str]:
    """Where the digest goes, as said on the terminal: its recipients, its Apprise URLs without their
    secrets (`kuroshio.digest.notify`), and the variable naming more."""
    from kuroshio.digest.notify import apprise_target

    return [*digest.to, *(apprise_target(url).label for url in digest.notify),
            *([f"${digest.notify_env}"] if digest.notify_env else [])]
