"""The hand-written migrations build the schema the models describe."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone
from multiprocessing.synchronize import Barrier

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from kuroshio.storage.engine import SCHEMA_HEAD, alembic_config, create_engine_for, upgrade_schema
from kuroshio.storage.models import Base

TABLES = {"sources", "crawl_runs", "articles", "article_urls", "topic_matches"}


HEAD_REVISION = "0011"  # the newest migration in storage/migrations/versions

def _is_fulltext_table(name: str | None) -> bool:
    """The search index (`kuroshio.storage.search_index`) is written in SQL, not modelled; so was 0001's."""
    return bool(name) and name.startswith(("articles_fts", "articles_search"))


def test_upgrade_creates_schema_on_fresh_database(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade_schema(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade_schema(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION


def _upgrade_when_released(database_url: str, start: Barrier) -> None:
    """Body of one upgrading process: wait for the others, then upgrade the schema."""
    engine = create_engine_for(database_url)
    try:
        start.wait(timeout=60)
        upgrade_schema(engine)
    finally:
        engine.dispose()


@pytest.mark.faults
def test_concurrent_upgrades_of_a_fresh_database_migrate_it_once(database_url: str) -> None:
    # Several processes starting at once (scheduler, CLI) each upgrade the schema; processes rather than
    # threads, as in production (Alembic's migration context is global to a process). On PostgreSQL only
    # the advisory lock keeps them from all running the CREATE TABLEs: without it all but one failed.
    upgraders = 4
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(upgraders)
    processes = [
        spawn.Process(target=_upgrade_when_released, args=(database_url, start)) for _ in range(upgraders)
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        assert [process.exitcode for process in processes] == [0] * upgraders
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    engine = create_engine_for(database_url)
    try:
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION
    finally:
        engine.dispose()


# SQLite cannot reflect expression indexes, so there Alembic leaves ix_articles_effective_date out of
# the comparison (with these two warnings); tests/storage/test_reading_indexes.py compares its DDL instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_match_models(engine: Engine) -> None:
    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return not (type_ == "table" and _is_fulltext_table(name))

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": include_name, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_sqlite_gets_the_search_index_and_no_fulltext_triggers(tmp_path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'kuroshio.db'}")
    try:
        upgrade_schema(engine)
        with engine.connect() as connection:
            has_fts5 = connection.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
            rows = connection.exec_driver_sql("SELECT name, type FROM sqlite_master")
            objects = {name: type_ for name, type_ in rows}
    finally:
        engine.dispose()
    assert "articles_fts" not in objects
    # The store writes the index itself (0007); the one trigger left removes an article deleted by hand.
    assert {name for name, type_ in objects.items() if type_ == "trigger"} == (
        {"articles_search_after_delete"} if has_fts5 else set()
    )
    if has_fts5:
        assert objects["articles_search"] == "table"


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    remaining = {name for name in inspect(engine).get_table_names() if name != "alembic_version"}
    assert remaining == set()

    upgrade_schema(engine)
    assert TABLES <= set(inspect(engine).get_table_names())


FAILED_AT = datetime(2026, 11, 30, tzinfo=timezone.utc)


def test_0006_forgets_the_pages_the_character_count_refused_and_keeps_other_failures(engine: Engine) -> None:
    """Refused under the old 200-character floor, a page is judged again by the next crawl; gone pages,
    indexes and empty pages stay remembered."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
        connection.exec_driver_sql("INSERT INTO sources (id, name) VALUES (1, 'wire')")
        reasons = {"http://wire.test/zh/1": "no content: article text too short (64 characters)",
                   "http://wire.test/gone": "HTTP 404",
                   "http://wire.test/index": "no content: page is an index, not an article (84% of its text is link labels)",
                   "http://wire.test/empty": "no content: extraction found no article text"}
        insert = text("INSERT INTO page_failures (source_id, url, reason, permanent, attempts, first_failed_at,"
                      " last_failed_at) VALUES (1, :url, :reason, :permanent, 1, :at, :at)")
        for url, reason in reasons.items():
            connection.execute(insert, {"url": url, "reason": reason, "permanent": True, "at": FAILED_AT})
    upgrade_schema(engine)
    with engine.connect() as connection:
        remaining = set(connection.exec_driver_sql("SELECT url FROM page_failures").scalars())
    assert remaining == set(reasons) - {"http://wire.test/zh/1"}


def test_the_schema_head_upgrade_checks_for_is_alembics_head() -> None:
    # upgrade_schema leaves a store at SCHEMA_HEAD alone without loading Alembic: a new migration must
    # move it, or stores would never get that migration.
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD == HEAD_REVISION


def test_a_store_one_migration_behind_is_upgraded(engine: Engine) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() != HEAD_REVISION
    upgrade_schema(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD_REVISION
