"""What narrows a listing and what cuts it short, the same way in every reading command.

Narrowing: a `--source` or `--topic` must name one Kuroshio knows — configured, or found in the store
(the archive keeps the articles of a source or topic since removed from the config). Any other name is
a usage error, exit 2, naming the known ones: a typo listing "(none)" with exit 0 reads as an empty
archive.

Cutting: `--limit N` or `--limit all`. A listing that was cut says so in one line on stderr, so a
script reading stdout is never handed part of a listing as the whole of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from sqlalchemy.orm import Session

from kuroshio.scheduler.cli_context import OneLineError
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG

ALL = "all"


class LimitType(click.ParamType):
    """`--limit`: a whole number of at least 1, or "all"."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or value == ALL:
            return value
        text = str(value).strip().lower()
        if text == ALL:
            return ALL
        if text.isascii() and text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"expected a number of at least 1, or 'all'; got {value!r}", param, ctx)


LIMIT = LimitType()


def limit_count(limit: int | str | None, *, default: int | None) -> int | None:
    """How many rows `--limit` asks for: a number, or None for every one (`all`, or a default of None
    when the option was not given)."""
    if limit is None:
        return default
    return None if limit == ALL else int(limit)


def report_cut(shown: int, *, total: int | None, what: str) -> None:
    """Say on stderr that a listing shows `shown` of `total` `what` (None: more exist, how many unknown)."""
    of = f" of {total:,}" if total is not None else ""
    more = "" if total is not None else " (more exist)"
    click.echo(f"kuroshio: showing {shown:,}{of} {what}{more}; --limit all for every one", err=True)


class UnknownName(OneLineError):
    """A `--source` or `--topic` naming nothing known: one line naming it and the known ones, exit 2."""

    exit_code = EXIT_BAD_CONFIG


def require_known(kind: str, name: str | None, known: Iterable[str]) -> None:
    """Raise `UnknownName` when `name` is given and is not one of `known`."""
    names = sorted(set(known))
    if name is not None and name not in names:
        raise UnknownName(f"unknown {kind} {name!r}; known: {', '.join(names) or 'none'}")


def known_sources(config: Config, session: Session) -> set[str]:
    """Sources a listing can be narrowed to: configured, or with runs or articles stored."""
    from kuroshio.storage.sources import source_names

    return {*config.source_names, *source_names(session)}


def known_topics(config: Config, session: Session) -> set[str]:
    """Topics a listing can be narrowed to: configured, or with matches stored."""
    from kuroshio.storage.topic_definitions import matched_counts

    return {*config.topic_names, *matched_counts(session)}
