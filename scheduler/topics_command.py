"""`kuroshio topics`: the configured topics beside the archive, and re-scoring the archive against them.

`topics list` shows each topic's definition, whether the stored matches reflect it (current, changed,
partly rematched, never matched) and how many articles match it. `topics rematch` re-scores the stored
articles (`kuroshio.scheduler.rematch`): every topic not current, or the topics named with `--topic`
(done again even when current: the matcher itself may have changed). Progress goes to stderr after each
batch, as a live line on a terminal. Interrupted (Ctrl-C, a kill), it resumes where it stopped when run
again. Matches of topics no longer configured are kept until `--prune`.

Exit codes: 0 when the rematch ran (or nothing needed one), 2 for an unknown topic or a bad config,
75 (as `kuroshio crawl`) when another process is re-scoring one of the topics, 130 after Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import click

from kuroshio.crawler.topics import Topic
from kuroshio.scheduler.cli_context import OneLineError, config_from, open_store, store_errors_reported
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_BUSY, EXIT_INTERRUPTED
from kuroshio.scheduler.render import render_table
from kuroshio.storage.models import TopicDefinition


class UnknownTopic(OneLineError):
    """A `--topic` that is not configured: one line naming it and the configured ones, exit 2."""

    exit_code = EXIT_BAD_CONFIG


@click.group("topics")
def topics_command() -> None:
    """List the configured topics and re-score the stored articles against them."""


@topics_command.command("list")
@click.pass_context
def topics_list(ctx: click.Context) -> None:
    """Each topic's query and min score, whether the archive is scored by it, and its articles."""
    from kuroshio.scheduler.rematch import states_of
    from kuroshio.storage.topic_definitions import stale_topics

    config = config_from(ctx)
    with open_store(config)() as session:
        states = states_of(session, config.topics)
        stale = stale_topics(session, config.topic_names)
    rows = [(topic.name, str(topic.query), f"{topic.min_score:g}", topic.scorer or "-",
             _state_cell(state.state, state.stored), state.matched) for topic, state in zip(config.topics, states)]
    click.echo(render_table(["topic", "query", "min score", "scorer", "definition", "articles"], rows))
    for name, count in stale.items():
        click.echo(f"not configured: {name}: {count} matching articles kept (`kuroshio topics rematch --prune` "
                   f"removes them)")


def _state_cell(state: str, stored: TopicDefinition | None) -> str:
    if state == "partly rematched" and stored is not None:
        return f"{state} (to article {stored.rematched_through})"
    if state == "current" and stored is not None and stored.matched_at is not None:
        return f"current (matched {stored.matched_at.isoformat(timespec='seconds')})"
    return state


@topics_command.command("rematch")
@click.option("--topic", "topic_names", multiple=True, metavar="NAME",
              help="Re-score this topic (repeatable), even when current; default: every topic not current.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
              help="Articles re-scored per transaction.")
@click.option("--prune", is_flag=True, help="Also delete the matches of topics no longer configured.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Articles done so far on stderr after each batch (the daemon logs only start and end).")
@click.pass_context
def topics_rematch(ctx: click.Context, topic_names: tuple[str, ...], batch_size: int, prune: bool,
                   progress: bool) -> None:
    """Re-score the stored articles against topics added or edited since they were matched."""
    from kuroshio.scheduler.locks import LeaseHeld
    from kuroshio.scheduler.rematch import LeaseLost, rematch, topics_to_rematch
    from kuroshio.storage.topic_definitions import prune_topics, stale_topics

    config = config_from(ctx)
    named = _named_topics(config.topics, topic_names)
    sessions = open_store(config)
    with store_errors_reported(config):
        if prune:
            with sessions() as session:
                stale = stale_topics(session, config.topic_names)
                deleted = prune_topics(session, stale)
            if stale:
                click.echo(f"pruned {', '.join(stale)}: {deleted} matches deleted")
        with sessions() as session:
            topics = named or topics_to_rematch(session, config.topics)
        if not topics:
            if not prune:
                click.echo("every topic is current: nothing to rematch")
            return
        meter = _ProgressLine(sys.stderr if progress else None, ", ".join(topic.name for topic in topics))
        try:
            rows = rematch(sessions, topics, restart=topic_names, batch_size=batch_size, progress=meter.show)
        except LeaseHeld as held:
            meter.end()
            click.echo(f"kuroshio: {held}: not rematched now", err=True)
            ctx.exit(EXIT_BUSY)
        except LeaseLost as lost:
            meter.end()
            click.echo(f"kuroshio: {lost}; run it again to resume", err=True)
            ctx.exit(EXIT_BUSY)
        except KeyboardInterrupt:
            meter.end()
            click.echo(f"kuroshio: interrupted after {meter.done} of {meter.total} articles: run it again to "
                       f"resume", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        meter.end()
    # The counts are the whole rematch of each definition, the part an interrupted run did included.
    click.echo(f"rematched {meter.done:,} articles: " + "; ".join(
        f"{row.name}: +{row.added} -{row.removed}, {row.changed} changed scores" for row in rows))


def _named_topics(topics: Sequence[Topic], names: tuple[str, ...]) -> list[Topic]:
    """The configured topics `names` asks for, in configured order; an unknown one is a usage error."""
    configured = [topic.name for topic in topics]
    unknown = [name for name in names if name not in configured]
    if unknown:
        raise UnknownTopic(f"unknown topic {', '.join(map(repr, unknown))} (configured: {', '.join(configured)})")
    return [topic for topic in topics if topic.name in names]


class _ProgressLine:
    """Articles done of all, on stderr after every batch: rewritten in place on a terminal, a line each
    otherwise (a log keeps every line, and `\\r` would garble it)."""

    def __init__(self, stream: TextIO | None, what: str) -> None:
        self.stream = stream
        self.what = what
        self.live = stream is not None and stream.isatty()
        self.done = self.total = 0

    def show(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.stream is None:
            return
        line = f"rematch {self.what}: {done:,}/{total:,} articles"
        self.stream.write(f"\r{line}" if self.live else f"{line}\n")
        self.stream.flush()

    def end(self) -> None:
        if self.live and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
