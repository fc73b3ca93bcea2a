"""Migrations against the real PostgreSQL: each service's schema, idempotency, history checks, upgrades."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from ragplane.adapters.migrations import FUNCTIONS, Migration, Schema, ensure_current, load_migrations, migrate, status
from ragplane.errors import MigrationError, SchemaBehind
from ragplane.ops import migrate as migrate_command
from ragplane.services.collections.registry.migrations import SCHEMA as REGISTRY
from ragplane.services.query.migrations import SCHEMA as QUERY_LOG
from tests.pg import temporary_database

pytestmark = pytest.mark.anyio

SHIPPED = {s.owner: len(load_migrations(s)) for s in (REGISTRY, QUERY_LOG)}  # the tests hold as files are added
OWNED = {
    "collections": (
        {"collections", "documents", "chunks", "ingestion_jobs", "schema_migrations"},
        {"ingestion_stats_1h"},
    ),
    "query": ({"query_logs", "query_schema_migrations"}, {"query_stats_1m", "query_gaps_1d"}),
}
EARLIER = Path(__file__).parent / "earlier_migrations"  # 0002 and 0003 as released before the query log moved


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


async def _rollups(conn: asyncpg.Connection) -> set[str]:
    return {r["matviewname"] for r in await conn.fetch("SELECT matviewname FROM pg_matviews")}


@pytest.mark.parametrize("schema", [REGISTRY, QUERY_LOG], ids=lambda s: s.owner)
async def test_each_service_makes_only_its_own_tables(empty_db: asyncpg.Connection, schema: Schema) -> None:
    applied = await migrate(empty_db, schema)

    assert [m.version for m in applied] == list(range(1, SHIPPED[schema.owner] + 1))
    tables, rollups = OWNED[schema.owner]
    assert await _tables(empty_db) == tables
    assert await _rollups(empty_db) == rollups
    assert (await status(empty_db, schema)).current


async def test_both_schemas_make_the_whole_database_with_two_partitioned_tables(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db, QUERY_LOG)  # either service may start first
    await migrate(empty_db, REGISTRY)

    assert await _tables(empty_db) == OWNED["collections"][0] | OWNED["query"][0]
    partitioned = await empty_db.fetch("SELECT partrelid::regclass::text AS name FROM pg_partitioned_table")
    assert {r["name"] for r in partitioned} == {"ingestion_jobs", "query_logs"}


async def test_migrating_twice_applies_nothing_the_second_time(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db, REGISTRY)
    assert await migrate(empty_db, REGISTRY) == []
    assert await empty_db.fetchval("SELECT count(*) FROM schema_migrations") == SHIPPED["collections"]


async def test_every_migration_file_is_idempotent_on_its_own(empty_db: asyncpg.Connection) -> None:
    """Re-running a file by hand (a half-restored database) must not fail or duplicate anything."""
    await empty_db.execute(FUNCTIONS.read_text(encoding="utf-8"))
    for schema in (REGISTRY, QUERY_LOG):
        for migration in load_migrations(schema):
            await empty_db.execute(migration.sql)
            await empty_db.execute(migration.sql)
    histories = {"schema_migrations", "query_schema_migrations"}
    assert await _tables(empty_db) == (OWNED["collections"][0] | OWNED["query"][0]) - histories


async def test_concurrent_migrate_runs_take_turns(empty_db: asyncpg.Connection) -> None:
    other = await asyncpg.connect(_dsn(empty_db))
    try:
        first, second = await asyncio.gather(migrate(empty_db, REGISTRY), migrate(other, REGISTRY))
    finally:
        await other.close()
    assert sorted(len(x) for x in (first, second)) == [0, SHIPPED["collections"]]


def _dsn(conn: asyncpg.Connection) -> str:
    host, port = conn._addr
    return f"postgresql://{conn._params.user}@{host}:{port}/{conn._params.database}"


async def test_check_reports_pending_migrations(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations(REGISTRY)
    await migrate(empty_db, REGISTRY, shipped[:1])

    current = await status(empty_db, REGISTRY, shipped)

    assert list(current.applied) == [1]
    assert [m.version for m in current.pending] == list(range(2, SHIPPED["collections"] + 1))
    assert not current.current


async def test_a_changed_applied_migration_is_refused(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations(REGISTRY)
    await migrate(empty_db, REGISTRY, shipped)
    edited = [dataclasses.replace(shipped[0], sql=shipped[0].sql + "\n-- edited\n"), *shipped[1:]]

    with pytest.raises(MigrationError, match="collections migration 1_registry was changed after it was applied"):
        await status(empty_db, REGISTRY, edited)


async def test_a_database_newer_than_the_code_is_refused(empty_db: asyncpg.Connection) -> None:
    shipped = load_migrations(REGISTRY)
    await migrate(empty_db, REGISTRY, shipped)

    with pytest.raises(MigrationError, match="does not know"):
        await status(empty_db, REGISTRY, shipped[:2])


async def test_a_failing_migration_leaves_nothing_behind(empty_db: asyncpg.Connection) -> None:
    broken = Migration(99, "broken", "CREATE TABLE half_done (id int); SELECT no_such_function();")

    with pytest.raises(asyncpg.PostgresError):
        await migrate(empty_db, REGISTRY, [*load_migrations(REGISTRY), broken])

    assert await empty_db.fetchval("SELECT to_regclass('half_done')") is None
    assert await empty_db.fetchval("SELECT max(version) FROM schema_migrations") == SHIPPED["collections"]


async def test_a_service_that_does_not_migrate_at_start_refuses_a_schema_behind(empty_db: asyncpg.Connection) -> None:
    behind = r"the query schema is behind \(1_query_logs pending\): run `ragplane migrate`"
    with pytest.raises(SchemaBehind, match=behind):
        await ensure_current(empty_db, QUERY_LOG, apply=False)

    await ensure_current(empty_db, QUERY_LOG, apply=True)
    await ensure_current(empty_db, QUERY_LOG, apply=False)


async def test_a_database_from_before_the_query_log_moved_upgrades_keeping_its_rows(
    empty_db: asyncpg.Connection,
) -> None:
    """The released 0002/0003 made the query log in the collections history; the new owner takes it over."""
    earlier = {m.version: m for m in load_migrations(REGISTRY)}
    for path in sorted(EARLIER.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        earlier[int(version)] = Migration(int(version), name, path.read_text(encoding="utf-8"))
    await migrate(empty_db, REGISTRY, [earlier[v] for v in sorted(earlier) if v <= 5])
    await empty_db.execute(
        "INSERT INTO query_logs VALUES (now(), 'docs', 'search', 'h', 'what is ragplane', 3, 0.01, false, false, 200)"
    )

    assert [m.version for m in await migrate(empty_db, REGISTRY)] == list(range(6, SHIPPED["collections"] + 1))
    assert [m.version for m in await migrate(empty_db, QUERY_LOG)] == list(range(1, SHIPPED["query"] + 1))

    assert (await status(empty_db, REGISTRY)).current  # the earlier texts' checksums are accepted
    assert await empty_db.fetchval("SELECT count(*) FROM query_logs") == 1
    assert await empty_db.fetchval("SELECT to_regprocedure('ragplane_maintain(interval, interval)')") is None
    assert await _rollups(empty_db) == OWNED["collections"][1] | OWNED["query"][1]


async def test_run_prints_status_and_exits_one_when_behind(empty_db: asyncpg.Connection) -> None:
    said: list[str] = []
    url = _dsn(empty_db)
    total = sum(SHIPPED.values())

    assert await migrate_command.run(url, check=True, say=said.append) == 1
    assert said[-1] == f"schema is behind: {total} pending"
    assert "  pending  query/0001_query_logs" in said
    assert await migrate_command.run(url, check=False, say=said.append) == 0
    assert said[-1] == f"schema is current ({total} applied now)"
    assert await migrate_command.run(url, check=True, say=said.append) == 0
    assert said[-1] == "schema is current"
