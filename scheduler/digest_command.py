"""`kuroshio digest`: preview a digest, or send it and mark its articles delivered.

The preview is for reading: its text part on stdout, as the mail shows it; `--eml` gives the whole
message as it would be sent (headers, both parts, quoted-printable), `--out FILE` writes one to a file.

Exit codes: 0 when the preview was written or the digest sent (or there was nothing to send), 1 when
a target (the SMTP server, an Apprise URL) did not accept it (what it lacks stays owed to it; the error
is recorded for `kuroshio status`), 2 for a
bad config or bad arguments, 75 (as `kuroshio crawl`) when another process is sending that digest.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kuroshio.digest.options import DigestConfig
from kuroshio.scheduler.cli_context import config_from, open_store, parse_since
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.exits import EXIT_BUSY

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

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
                   "name the whole message (.eml); default: the text part on stdout.")
@click.option("--eml", "whole_message", is_flag=True,
              help="Preview the whole message as it would be sent (.eml: headers, both parts), not its text.")
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
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(payload)
    owed = f"{content.article_count} article{'s' if content.article_count != 1 else ''}"
    if content.article_count == 0 and not digest.send_empty:
        owed += " (nothing new: --send would send nothing)"
    where = f" to {out}" if out is not None else ""
    click.echo(f"dry run: digest {digest.name!r} owes {owed}; wrote the {what}{where}; nothing sent or marked",
               err=True)


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
