"""What every `kuroshio` command shares: its configuration, its store and the `--since` flag.

A bad config is one line and exit 2; a store that cannot be connected to (the server down, the login
refused, no such database) is one line naming the database (its password masked), the cause and what
to check, and exit 69; a store that refuses writes (full, read-only, a SQLite file that cannot be made
where storage.url puts it) is one line naming the database and the cause, and exit 74
(`kuroshio.scheduler.exits`). The traceback is logged at DEBUG only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.scheduler.config import Config, ConfigError, load_config
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_STORE_UNREACHABLE, EXIT_STORE_UNWRITABLE
from kuroshio.storage.engine import (
    StoreFolderUnusable,
    StoreUnreachable,
    create_engine_for,
    session_factory,
    unwritable_reason,
    upgrade_schema,
)
from kuroshio.storage.text import one_line

logger = logging.getLogger(__name__)


def config_from(ctx: click.Context) -> Config:
    """The configuration the command was given; a bad one is one line on stderr and exit 2."""
    try:
        return load_config(ctx.obj["config_path"])
    except ConfigError as error:
        click.echo(f"kuroshio: config error: {error}", err=True)
        ctx.exit(EXIT_BAD_CONFIG)
        raise  # unreachable: ctx.exit raises


def open_store(config: Config) -> sessionmaker[Session]:
    """Sessions on the configured store, its schema upgraded first."""
    with store_errors_reported(config):  # even a reading command writes: the schema upgrade
        engine = create_engine_for(config.storage_url)
        upgrade_schema(engine)
    return session_factory(engine)


class OneLineError(click.ClickException):
    """An error the user can cause or mend (a bad argument, a file not written, the store down): one line
    on stderr, without control characters (`one_line`: a message may quote a name or a page), never a
    traceback, and the exit code its subclass sets (1 unless it says otherwise)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"kuroshio: {one_line(self.message)}", err=True)


class StoreError(OneLineError):
    """The store cannot be used: the exit code of its subclass says why."""


class StoreUnavailable(StoreError):
    """The database could not be connected to: the server down or unreachable, the login refused, no
    such database. Exit 69."""

    exit_code = EXIT_STORE_UNREACHABLE


class StoreUnwritable(StoreError):
    """The database refused a write: full, read-only or its disk failing, or its SQLite file cannot be
    made where the URL puts it. Exit 74."""

    exit_code = EXIT_STORE_UNWRITABLE


@contextmanager
def store_errors_reported(config: Config) -> Iterator[None]:
    """Turn a store that cannot be connected to (`StoreUnavailable`) or refused a write (`StoreUnwritable`)
    into one line naming the database and the cause; a traceback would bury the one thing the operator
    must fix (the server, the password, space, or a read-only mount)."""
    try:
        yield
    except StoreUnreachable as error:
        logger.debug("the database could not be connected to", exc_info=True)
        raise StoreUnavailable(f"{error}; {_what_to_check(config)}") from None
    except StoreFolderUnusable as error:
        logger.debug("the database's folder could not be made", exc_info=True)
        raise StoreUnwritable(f"{error}; check storage.url (or $KUROSHIO_DATABASE_URL)") from None
    except SQLAlchemyError as error:
        reason = unwritable_reason(error, config.storage_url)
        if reason is None:
            raise
        logger.debug("the database refused a write", exc_info=True)
        raise StoreUnwritable(reason) from None


def _what_to_check(config: Config) -> str:
    if config.storage_url.startswith("sqlite"):
        return "check storage.url (or $KUROSHIO_DATABASE_URL)"
    return (f"check that the server runs and is reachable, and storage.url (or $KUROSHIO_DATABASE_URL) and "
            f"its password (or ${config.storage.password_env})")


def parse_since(value: str | None) -> datetime | None:
    """`--since` as an aware datetime (UTC when no offset is given), or a one-line usage error."""
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected an ISO date like 2025-12-01 or 2025-12-01T08:00+08:00, got {value!r}",
                                 param_hint="--since") from None
    return since if since.tzinfo else since.replace(tzinfo=timezone.utc)
