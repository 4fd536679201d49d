"""The web view's hold on the store: read-only by the database's own rule, never by the code's good manners.

Every connection the web view opens is refused writes by the database itself: SQLite runs with
`PRAGMA query_only` (an INSERT, UPDATE, DELETE or DDL fails with "attempt to write a readonly
database"), PostgreSQL with `default_transaction_read_only` (each transaction is READ ONLY). A bug in a
page, or a request crafted to reach one, can read the archive but never change it. So the web view may
also run as a database role that can only SELECT, or on a SQLite file it may only read.

It upgrades no schema either (every other command does: `kuroshio db upgrade`): `schema_problem` says,
in one line, when the store is older than this Kuroshio, and `kuroshio serve` refuses to start.

Settings: `storage.url` (or `$KUROSHIO_DATABASE_URL`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.storage.engine import alembic_config, connect, create_engine_for, masked_url

_POSTGRES_READ_ONLY = "-c default_transaction_read_only=on"


def read_only_engine(url: str) -> Engine:
    """An engine on `url` whose every connection the database refuses writes on (module docstring)."""
    engine = create_engine_for(url)
    if engine.dialect.name == "sqlite":
        # Registered after create_engine_for's own connect hook, which switches a new file to WAL first.
        event.listen(engine, "connect", _sqlite_query_only)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "do_connect", _postgres_read_only)
    else:  # pragma: no cover - the store supports these two
        raise ValueError(f"no read-only mode known for the {engine.dialect.name} database {masked_url(url)}")
    return engine


def _sqlite_query_only(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()


def _postgres_read_only(dialect: Any, connection_record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    # libpq's `options` sets server settings for the session; a URL's own options are kept before ours.
    cparams["options"] = f"{cparams.get('options', '')} {_POSTGRES_READ_ONLY}".strip()


def read_only_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never flush on their own: a page reads, and a stray change to a loaded object must
    not even be attempted."""
    return sessionmaker(engine, autoflush=False, expire_on_commit=False)


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file `url` names when it does not exist yet (the web view would otherwise create an
    empty store there); None for a file that exists, an in-memory database or a server's URL."""
    sa_url = make_url(url)
    database = sa_url.database
    if sa_url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    return None if path.exists() else path


def schema_problem(engine: Engine) -> str | None:
    """One line saying why the store's schema is not the one this Kuroshio reads (never made, or older
    or newer than its migrations), or None when it is. Reads only; `StoreUnreachable` when the database
    cannot be connected to."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    with connect(engine) as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    shown = masked_url(engine.url)
    if current == head:
        return None
    if current is None:
        return f"the database {shown} holds no Kuroshio store yet: crawl first (kuroshio crawl), or kuroshio db upgrade"
    known = {revision.revision for revision in script.walk_revisions()}
    if current not in known:
        return f"the database {shown} was made by a newer Kuroshio (schema {current}): upgrade Kuroshio"
    return f"the database {shown} has an older schema ({current}, not {head}): run kuroshio db upgrade first"

