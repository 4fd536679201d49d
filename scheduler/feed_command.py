"""`kuroshio feed`: the Atom feed of a topic, or of every relevant article, for a feed reader.

The document goes to stdout (`kuroshio feed taiwan-japan > taiwan-japan.xml`), or with `--out FILE` to
that file, replaced at once (written beside it, then renamed), so a web server publishing it never
hands out half a feed. Building it again from the same store gives the same bytes (`kuroshio.digest.feed`).

Exit codes: 0 when the feed was written, 1 when `--out` could not be written, 2 for an unknown topic,
a bad `--self-url` or a bad config, 69 when the store cannot be connected to.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import click

from kuroshio.scheduler.cli_context import OneLineError, config_from, open_store
from kuroshio.scheduler.exits import EXIT_FAILED
from kuroshio.scheduler.listing import ALL, LIMIT, known_topics, limit_count, require_known

FEED_LIMIT = 50  # entries when --limit is not given: a reader keeps what it has seen, the feed only what is new


class FeedNotWritten(OneLineError):
    """`--out` could not be written: one line naming the file and why, exit 1."""

    exit_code = EXIT_FAILED


@click.command("feed")
@click.argument("topic", required=False)
@click.option("--limit", type=LIMIT, default=FEED_LIMIT, show_default=True, metavar="N|all",
              help="The N newest articles, or 'all'.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the feed to this file, replacing it at once (default: stdout).")
@click.option("--self-url", metavar="URL",
              help="The address the feed is served at, given as its rel=self link (feed validators ask for it).")
@click.option("--full-text", is_flag=True,
              help="Include each article's stored text as its content, not only the excerpt. A full-text feed "
                   "republishes the publishers' articles: keep it private.")
@click.pass_context
def feed_command(ctx: click.Context, topic: str | None, limit: int | str, out: Path | None, self_url: str | None,
                 full_text: bool) -> None:
    """Write the Atom feed of TOPIC (a configured topic), or with no TOPIC or 'all', of every relevant
    article; newest first."""
    from kuroshio.digest.compose import safe_url
    from kuroshio.digest.feed import read_feed

    if self_url is not None and safe_url(self_url) is None:
        raise click.BadParameter(f"{self_url!r} is not a plain http(s) URL", param_hint="--self-url")
    config = config_from(ctx)
    with open_store(config)() as session:
        known = known_topics(config, session)
        if topic == ALL and topic not in known:
            topic = None  # a topic named "all" is that topic; `kuroshio feed` alone is every relevant article
        require_known("topic", topic, known)
        document = read_feed(session, topic=topic, limit=limit_count(limit, default=None),
                             now=datetime.now(timezone.utc), self_url=self_url, full_text=full_text)
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
    else:
        _replace(out, document)


def _replace(path: Path, document: bytes) -> None:
    """Write `document` to `path` whole or not at all: a file beside it, flushed to disk, then renamed over
    it. The file gets the permissions a new file of this process would (a web server must read it)."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise FeedNotWritten(f"cannot write the feed to {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(document)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise FeedNotWritten(f"cannot write the feed to {path}: {error.strerror}") from None


def _umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
