"""Migrations against the real PostgreSQL: schema shape, idempotency, history checks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ragplane.ops import migrate as migrate_command
from ragplane.services.collections import migrate as migrations
from ragplane.services.collections.migrate import MigrationError, load_migrations, migrate, status
from tests.pg import temporary_database

SHIPPED = len(load_migrations())  # 0001 … 0005: the tests hold as migrations are added

pytestmark = pytest.mark.anyio

TABLES = {"collections", "documents", "chunks", "ingestion_jobs", "query_logs", "schema_migrations"}
ROLLUPS = {"query_stats_1m", "ingestion_stats_1h", "query_gaps_1d"}


@pytest.fixture
async def empty_db() -> AsyncIterator[asyncpg.Connection]:
    with temporary_database(migrated=False) as url:
        conn = await asyncpg.connect(url)
        try:
            yield conn
        finally:
            await conn.close()


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    )
    return {r["relname"] for r in rows}


async def test_an_empty_database_gets_six_tables_two_partitioned_and_three_rollups(
    empty_db: asyncpg.Connection,
) -> None:
    applied = await migrate(empty_db)

    assert [m.version for m in applied] == list(range(1, SHIPPED + 1))
    assert await _tables(empty_db) == TABLES
    partitioned = await empty_db.fetch("SELECT partrelid::regclass::text AS name FROM pg_partitioned_table")
    assert {r["name"] for r in partitioned} == {"ingestion_jobs", "query_logs"}
    views = await empty_db.fetch("SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'")
    assert {r["matviewname"] for r in views} == ROLLUPS
    assert (await status(empty_db)).current


async def test_migrating_twice_applies_nothing_the_second_time(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    assert await migrate(empty_db) == []
    assert await empty_db.fetchval("SELECT count(*) FROM schema_migrations") == SHIPPED


async def test_every_migration_file_is_idempotent_on_its_own(empty_db: asyncpg.Connection) -> None:
    """Re-running a file by hand (a half-restored database) must not fail or duplicate anything."""
    for migration in load_migrations():
        await empty_db.execute(migration.sql)
        await empty_db.execute(migration.sql)
    assert await _tables(empty_db) == TABLES - {"schema_migrations"}


async def test_concurrent_migrate_runs_take_turns(empty_db: asyncpg.Connection) -> None:
    other = await asyncpg.connect(_dsn(empty_db))
    try:
        first, second = await asyncio.gather(migrate(empty_db), migrate(other))
    finally:
        await other.close()
    assert sorted(len(x) for x in (first, second)) == [0, SHIPPED]


def _dsn(conn: asyncpg.Connection) -> str:
    host, port = conn._addr
    return f"postgresql://{conn._params.user}@{host}:{port}/{conn._params.database}"


async def test_check_reports_pending_migrations(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations()
    await migrate(empty_db, shipped[:1])

    current = await status(empty_db, shipped)

    assert list(current.applied) == [1]
    assert [m.version for m in current.pending] == list(range(2, SHIPPED + 1))
    assert not current.current


async def test_a_changed_applied_migration_is_refused(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations()
    await migrate(empty_db, shipped)
    edited = [dataclasses.replace(shipped[0], sql=shipped[0].sql + "\n-- edited\n"), *shipped[1:]]

    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await status(empty_db, edited)


async def test_a_database_newer_than_the_code_is_refused(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations()
    await migrate(empty_db, shipped)

    with pytest.raises(MigrationError, match="does not know"):
        await status(empty_db, shipped[:2])


async def test_a_failing_migration_leaves_nothing_behind(empty_db: asyncpg.Connection) -> None:
    broken = migrations.Migration(9, "broken", "CREATE TABLE half_done (id int); SELECT no_such_function();")

    with pytest.raises(asyncpg.PostgresError):
        await migrate(empty_db, [*load_migrations(), broken])

    assert await empty_db.fetchval("SELECT to_regclass('half_done')") is None
    assert await empty_db.fetchval("SELECT max(version) FROM schema_migrations") == SHIPPED


async def test_run_prints_status_and_exits_one_when_behind(empty_db: asyncpg.Connection) -> None:
    said: list[str] = []
    url = _dsn(empty_db)

    assert await migrate_command.run(url, check=True, say=said.append) == 1
    assert said[-1] == f"schema is behind: {SHIPPED} pending"
    assert await migrate_command.run(url, check=False, say=said.append) == 0
    assert await migrate_command.run(url, check=True, say=said.append) == 0
    assert said[-1] == "schema is current"
