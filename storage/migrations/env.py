"""Alembic environment for the Kuroshio archive.

`storage.engine.upgrade_schema()` runs it with an open connection in ``config.attributes["connection"]``
(inside that connection's transaction). Run from the command line
(``alembic -c storage/alembic.ini upgrade head``) it opens ``sqlalchemy.url`` when the config sets
one, else the per-user database of `storage.engine.default_database_url()`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kuroshio.storage.engine import create_engine_for, default_database_url
from kuroshio.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configured_url() -> str:
    return config.get_main_option("sqlalchemy.url") or default_database_url()


def run_migrations_offline() -> None:
    """Emit the migration SQL without a database (``alembic upgrade --sql``)."""
    url = _configured_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection: Connection) -> None:
    """Run the migrations on an open connection (joining its transaction if it has one)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection when given one, else open the configured database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations_on(connection)
        return
    engine = create_engine_for(_configured_url())
    try:
        with engine.connect() as own_connection:
            run_migrations_on(own_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
