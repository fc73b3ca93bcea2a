"""The query service's upkeep of its own tables, against the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ragplane.adapters.postgres import Pool, create_pool
from ragplane.errors import SchemaBehind
from ragplane.services.query.log_upkeep import QueryLogUpkeep
from tests.pg import fetch, temporary_database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def empty() -> AsyncIterator[tuple[str, Pool]]:
    """A database no service has migrated yet, and a pool on it."""
    with temporary_database(migrated=False) as url:
        pool = create_pool(url, size=2, timeout_s=5, application="test")
        await pool
        try:
            yield url, pool
        finally:
            await pool.close()


def upkeep(pool: Pool, *, migrate_on_start: bool = True) -> QueryLogUpkeep:
    return QueryLogUpkeep(lambda: pool, migrate_on_start=migrate_on_start, every_s=60, retry_s=1, retention_days=30)


async def test_the_first_round_makes_the_query_log_on_a_database_the_collections_service_never_touched(
    empty: tuple[str, Pool],
) -> None:
    url, pool = empty
    keeper = upkeep(pool)

    assert await keeper.round() == "partitioned"

    assert keeper.schema_current.is_set()
    tables = await fetch(url, "SELECT to_regclass('query_logs') AS logs, to_regclass('collections') AS registry")
    assert (tables[0]["logs"], tables[0]["registry"]) == ("query_logs", None)
    days = await fetch(url, "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'query_logs'::regclass")
    assert days[0]["n"] >= 9  # yesterday, today, a week ahead, the default


async def test_rounds_refresh_the_rollups_the_console_reads(empty: tuple[str, Pool]) -> None:
    url, pool = empty
    keeper = upkeep(pool)
    await keeper.round()
    conn: asyncpg.Connection
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO query_logs VALUES (now(), 'docs', 'search', 'h', 'q', 0, 0.2, false, false, 200)"
        )

    await keeper.round()

    minutes = await fetch(url, "SELECT collection, queries FROM query_stats_1m")
    assert [dict(r) for r in minutes] == [{"collection": "docs", "queries": 1}]


async def test_without_migrate_on_start_a_schema_behind_is_refused_until_someone_migrates(
    empty: tuple[str, Pool],
) -> None:
    _, pool = empty
    keeper = upkeep(pool, migrate_on_start=False)

    with pytest.raises(SchemaBehind, match="run `ragplane migrate`"):
        await keeper.round()
    assert not keeper.schema_current.is_set()

    await upkeep(pool).round()  # `ragplane migrate`, or another replica that migrates
    assert await keeper.round() == "partitioned"


async def test_no_pool_yet_is_an_error_the_loop_retries() -> None:
    keeper = QueryLogUpkeep(lambda: None, migrate_on_start=True, every_s=60, retry_s=1, retention_days=30)

    with pytest.raises(RuntimeError, match="has not started"):
        await keeper.round()
