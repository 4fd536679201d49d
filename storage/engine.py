"""Where the archive lives and how connections to it behave.

`default_database_url()` picks the per-user SQLite file; `create_engine_for()` opens any SQLAlchemy URL
(SQLite or PostgreSQL); `upgrade_schema()` brings the schema to the newest migration; every write goes
through `write_transaction()`; `unwritable_reason()` tells a full, read-only or failing store (which a
later retry may cure) from every other database error, in one line naming the database.

A database URL is shown to people only through `masked_url()`, which hides its password, and a
password kept out of the URL (in the environment) is put back into it by `url_with_password()`.
`url_problem()` says, before any connection, what makes a URL unusable here (a dialect SQLAlchemy
lacks, a SQLite URL naming a host, a driver not installed) and what to write or install instead. A
database that cannot be connected to (the server down or unreachable, the login refused, no such
database) is `StoreUnreachable` from `upgrade_schema()`, the first thing every command does with a store;
a SQLite file whose folder cannot be made is `StoreFolderUnusable` from `create_engine_for()`.

SQLite is tuned for several processes sharing one file (a scheduled crawl, a manual crawl, the CLI):
WAL journal so readers never block the writer, a 30 s busy timeout, foreign keys enforced, and write
transactions opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded.

Environment: ``KUROSHIO_DATA_DIR`` (folder of ``kuroshio.db``), else ``$XDG_DATA_HOME/kuroshio``, else
``~/.local/share/kuroshio``.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, NullPool, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

logger = logging.getLogger(__name__)

DATABASE_FILENAME = "kuroshio.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
SCHEMA_HEAD = "0011"
"""The newest migration's revision in `MIGRATIONS_DIR` (a test holds it to Alembic's own head): a store
already there needs no upgrade, so opening it imports no Alembic, a tenth of a crawl process's start-up."""

# Execution option read by the SQLite "begin" hook below; other dialects ignore it.
_SQLITE_BEGIN_OPTION = "kuroshio_sqlite_begin"
# Any fixed 64-bit key: PostgreSQL advisory lock that serialises concurrent schema upgrades.
_PG_SCHEMA_LOCK_KEY = 0x6B75726F7368696F  # "kuroshio"
# Errors of a store that cannot take writes now: full, read-only, its disk failing. SQLite names its
# result codes (extended codes share the primary code's prefix: SQLITE_READONLY_DBMOVED, SQLITE_IOERR_SHMSIZE);
# PostgreSQL's SQLSTATEs are read_only_sql_transaction, disk_full and io_error.
_SQLITE_UNWRITABLE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")
_POSTGRES_UNWRITABLE = frozenset({"25006", "53100", "58030"})
# Below this much free space a filesystem is reported full: SQLite needs 32 KiB for a WAL index alone.
_FULL_BELOW_BYTES = 1 << 20


def default_database_url() -> str:
    """The per-user SQLite database URL (the folder is created when the engine opens)."""
    data_dir = os.environ.get("KUROSHIO_DATA_DIR")
    if data_dir:
        folder = Path(data_dir).expanduser()
    else:
        xdg_data_home = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg_data_home).expanduser() if xdg_data_home else Path.home() / ".local" / "share"
        folder = base / "kuroshio"
    return f"sqlite:///{(folder / DATABASE_FILENAME).resolve()}"


class StoreUnreachable(Exception):
    """The database could not be connected to; the message is one line naming it, its password masked."""


class StoreFolderUnusable(Exception):
    """The folder of a SQLite database could not be made; the message is one line naming it and why."""


def url_problem(url: str) -> str | None:
    """Why SQLAlchemy cannot use `url` here, in one line naming it (password masked) and saying what to
    write or install instead; None when it can. Asks no server: a config is checked before it is used."""
    shown = masked_url(url)
    try:
        sa_url = make_url(url)
        dialect = sa_url.get_dialect()  # a dialect SQLAlchemy lacks is NoSuchModuleError, an ArgumentError
    except (ArgumentError, ValueError) as error:
        said = str(error)
        if url.partition(":")[0].partition("+")[0].lower() == "postgres":
            said = "SQLAlchemy dropped the postgres:// name in 1.4: write postgresql+psycopg://"
        return f"not a database URL ({said}): {shown}"
    if sa_url.get_backend_name() == "sqlite" and (sa_url.host or sa_url.port):
        return (f"{shown} names a host ({sa_url.host}), and SQLite has none: a file is sqlite:///kuroshio.db "
                f"(three slashes: relative to the working folder) or sqlite:////var/lib/kuroshio/kuroshio.db "
                f"(four: an absolute path)")
    try:
        dialect.import_dbapi()
    except ImportError as error:
        missing = error.name or str(error)
        if sa_url.get_backend_name() == "postgresql":
            scheme = "" if sa_url.get_driver_name() == "psycopg" else ", and write postgresql+psycopg://"
            return (f"{shown} needs the PostgreSQL driver {missing}, which is not installed: install the postgres "
                    f"extra: pip install 'kuroshio[postgres]'{scheme}")
        return (f"{shown} needs the {sa_url.get_backend_name()} driver {missing}, which is not installed: install "
                f"it, or keep the archive in SQLite or PostgreSQL (postgresql+psycopg://, the postgres extra)")
    return None


def masked_url(url: str | URL) -> str:
    """`url` as it may be shown or logged: a password in it (or in its ``password=`` query) as ``***``."""
    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # unparsable (a port no number): any user:password@ is hidden here
        rendered = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", str(url))
    return re.sub(r"([?&]password=)[^&]*", r"\1***", rendered)


def url_password(url: str | URL) -> str | None:
    """The password `url` holds, in its user part or its ``password=`` query; None when it holds none."""
    sa_url = make_url(url)
    query_password = sa_url.query.get("password")
    return sa_url.password or (query_password if isinstance(query_password, str) else None) or None


def url_with_password(url: str, password: str) -> str:
    """`url` with `password` put in, when it is a server's URL that names none (a password kept in the
    environment, out of the config file); else `url` unchanged: its own password wins, SQLite has none."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite" or url_password(sa_url) is not None:
        return url
    return sa_url.set(password=password).render_as_string(hide_password=False)


def create_engine_for(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; SQLite engines get the concurrency settings described in the module docstring.

    `pooled=False` opens a connection per use: for a process that writes a few rows a minute for months
    (the daemon), so that it never keeps a connection opened while the store was read-only, nor the
    file of a filesystem remounted since.
    """
    sa_url = make_url(url)
    pool = {} if pooled else {"poolclass": NullPool}
    if sa_url.get_backend_name() != "sqlite":
        return create_engine(sa_url, pool_pre_ping=True, **pool)
    database = sa_url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        # SQLite reads `~` as a folder's name: the file goes where the folder is made, in the home folder.
        database = str(Path(database).expanduser())
        sa_url = sa_url.set(database=database)
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # under /proc, a file where a folder should be, no permission
            reason = "a file of that name is in the way" if folder.is_file() else error.strerror or str(error)
            raise StoreFolderUnusable(f"cannot make the folder {folder} of the database {database}: {reason}") \
                from error
    engine = create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **pool)
    _install_sqlite_transaction_control(engine)
    return engine


def _install_sqlite_transaction_control(engine: Engine) -> None:
    # SQLAlchemy's documented recipe for taking BEGIN away from the sqlite3 driver
    # (https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#sqlite-transactions), extended so that
    # write transactions can ask for BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first, so that switching to WAL waits for other connections too.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            _use_wal(cursor)
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _use_wal(cursor: Any) -> None:
    """Switch the database file to WAL (persistent), unless another connection already has.

    Changing the journal mode needs the database to itself and SQLite does not always wait for it
    with the busy handler, so two processes opening a fresh database at once could fail with
    "database is locked"; the switch is retried until the busy timeout is spent.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def unwritable_reason(error: BaseException, url: str | URL) -> str | None:
    """One line naming the database at `url` and why it refused a write, when `error` says the store is
    full, read-only or its disk failing — a retry later may succeed; None for any other error."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if not (getattr(cause, "sqlite_errorname", None) or "").startswith(_SQLITE_UNWRITABLE) \
            and getattr(cause, "sqlstate", None) not in _POSTGRES_UNWRITABLE:
        return None
    said = str(cause).strip().splitlines()
    cause_text = said[0] if said else type(cause).__name__
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite" and sa_url.database and sa_url.database != ":memory:":
        path = Path(sa_url.database).expanduser()
        return f"cannot write to the database {path}: {cause_text}{_filesystem_state(path)}"
    return f"cannot write to the database {masked_url(sa_url)}: {cause_text}"


def _filesystem_state(path: Path) -> str:
    """What the filesystem says about a SQLite file SQLite could not write: SQLite reports a WAL index it
    could not grow as "disk I/O error", and a file it could only open read-only as "readonly"."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return ""
    if stats.f_flag & os.ST_RDONLY:
        return " (its filesystem is mounted read-only)"
    if stats.f_blocks == 0:  # /proc, /sys: no room at all, and no file can be made there
        return " (its folder is on a virtual filesystem such as /proc, which holds no database: put it elsewhere)"
    free = stats.f_bavail * stats.f_frsize
    if free < _FULL_BELOW_BYTES:
        return f" (its filesystem is full: {free // 1024} KiB free)"
    if path.exists() and not os.access(path, os.W_OK):
        return " (the file is not writable by this user)"
    if not path.exists() and not os.access(path.parent, os.W_OK):
        return " (its folder is not writable by this user)"
    return ""


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (the CLI prints them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run the block as one write transaction: committed on success, rolled back on any exception.

    A read transaction that earlier queries left open is ended first; staged but unflushed changes
    are refused, since committing them here would be a surprise. On SQLite the transaction starts
    with BEGIN IMMEDIATE, so it waits its turn behind other writers instead of failing midway.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("session has uncommitted changes; commit or roll back before a repository write")
    if session.in_transaction():
        session.commit()
    with session.begin():
        session.connection(execution_options={_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        yield session


def upgrade_schema(engine: Engine) -> None:
    """Apply every pending migration in `storage/migrations` (Alembic ``upgrade head``); a store at
    `SCHEMA_HEAD` already is only checked, under the same lock, without loading Alembic."""
    with connect(engine) as connection:
        connection.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            _lock_schema(connection)
            if _schema_revisions(connection) != [SCHEMA_HEAD]:
                _upgrade_to_head(connection)


def _schema_revisions(connection: Connection) -> list[str]:
    """The revisions Alembic recorded in the store (none in a new one), read as Alembic reads them."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _upgrade_to_head(connection: Connection) -> None:
    """Alembic's ``upgrade head`` in `connection`'s transaction."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def alembic_config() -> AlembicConfig:
    """Alembic's configuration for the migrations in `MIGRATIONS_DIR` (Alembic is imported only here:
    a store at `SCHEMA_HEAD` never needs it)."""
    from alembic.config import Config

    config = Config()
    # Config values go through ConfigParser interpolation, hence the doubled percent signs.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def connect(engine: Engine) -> Connection:
    """A connection to `engine`'s database, or `StoreUnreachable` naming it and what the server or the
    driver said. A store that opened but refuses writes (SQLite switching a read-only file to WAL) is
    left to `unwritable_reason`: its error is raised as it is."""
    try:
        return engine.connect()
    except DBAPIError as error:
        if unwritable_reason(error, engine.url) is not None:
            raise
        raise StoreUnreachable(_unreachable_reason(error, engine.url)) from error


def _unreachable_reason(error: DBAPIError, url: URL) -> str:
    """"cannot connect to the database URL: what the driver said", in one line. The driver's message
    names the host, user and database, never the password."""
    said = " ".join(str(error.orig).split()) or type(error.orig).__name__
    return f"cannot connect to the database {masked_url(url)}: {said}"


def _lock_schema(connection: Connection) -> None:
    """Serialise concurrent upgrades: SQLite already holds the write lock (BEGIN IMMEDIATE)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK_KEY})
