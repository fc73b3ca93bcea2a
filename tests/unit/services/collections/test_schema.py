"""The SQL schema itself: sample queries, partition upkeep and rollups (seed 2.4.2-2.4.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ragplane.adapters.timeseries import Upkeep
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.services.query.log_upkeep import QUERY_LOGS

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _sample(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO collections (name, embedder, dimension, chunk_size, chunk_overlap) VALUES "
        "('docs', 'all-MiniLM-L6-v2', 384, 800, 120)"
    )
    await db.execute(
        "INSERT INTO documents (collection, id, title, content_hash, chunks, bytes) VALUES "
        "('docs', 'a.md', 'A', 'h1', 2, 100), ('docs', 'b.md', 'B', 'h2', 1, 50)"
    )
    await db.execute(
        "INSERT INTO chunks (collection, document_id, chunk_index, point_id, text) VALUES "
        "('docs', 'a.md', 0, gen_random_uuid(), 'alpha'), ('docs', 'a.md', 1, gen_random_uuid(), 'beta'), "
        "('docs', 'b.md', 0, gen_random_uuid(), 'gamma')"
    )
    await db.execute(
        "INSERT INTO ingestion_jobs (id, collection, state, documents_total, documents_ingested, chunks, "
        "created_at, started_at, finished_at) VALUES "
        "('j1', 'docs', 'completed', 2, 2, 3, now() - interval '2 minutes', now() - interval '2 minutes', now()), "
        "('j2', 'docs', 'failed', 1, 0, 0, now(), now(), now())"
    )
    await db.execute(
        "INSERT INTO query_logs (time, collection, kind, query_hash, query_text, results, latency_s, cache_hit, "
        "degraded, status) VALUES "
        "(now(), 'docs', 'search', 'q1', 'alpha?', 3, 0.05, false, false, 200), "
        "(now(), 'docs', 'search', 'q1', 'alpha?', 3, 0.01, true, false, 200), "
        "(now(), 'docs', 'query', 'q2', 'delta?', 0, 1.5, false, true, 200)"
    )


async def test_sample_queries_over_collections_documents_and_chunks(db: asyncpg.Connection) -> None:
    await _sample(db)

    row = await db.fetchrow(
        "SELECT c.name, count(DISTINCT d.id) AS documents, count(k.*) AS chunks FROM collections c "
        "JOIN documents d ON d.collection = c.name JOIN chunks k ON k.collection = d.collection "
        "AND k.document_id = d.id GROUP BY c.name"
    )
    assert dict(row) == {"name": "docs", "documents": 2, "chunks": 3}
    texts = await db.fetch("SELECT text FROM chunks WHERE collection = 'docs' AND document_id = 'a.md' ORDER BY 1")
    assert [r["text"] for r in texts] == ["alpha", "beta"]


async def test_deleting_a_collection_removes_its_documents_and_chunks(db: asyncpg.Connection) -> None:
    await _sample(db)
    await db.execute("DELETE FROM collections WHERE name = 'docs'")
    assert await db.fetchval("SELECT count(*) FROM documents") == 0
    assert await db.fetchval("SELECT count(*) FROM chunks") == 0
    assert await db.fetchval("SELECT count(*) FROM ingestion_jobs") == 2  # history stays


async def test_rows_land_in_time_partitions_not_the_default(db: asyncpg.Connection) -> None:
    await _sample(db)
    assert await db.fetchval("SELECT count(*) FROM ONLY query_logs_default") == 0
    assert await db.fetchval("SELECT count(*) FROM ONLY ingestion_jobs_default") == 0
    where = await db.fetchval("SELECT DISTINCT tableoid::regclass::text FROM query_logs")
    assert where.startswith("query_logs_p")


async def test_rows_beyond_the_partitions_wait_in_the_default_and_upkeep_goes_on(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO query_logs (time, collection, kind, query_hash, query_text, results, latency_s, cache_hit, "
        "degraded, status) VALUES (now() + interval '8 days', 'docs', 'search', 'q', 'q', 1, 0.1, false, false, 200)"
    )
    assert await db.fetchval("SELECT count(*) FROM ONLY query_logs_default") == 1

    # The partition for that day cannot be created over the row: upkeep warns, creates the next one, goes on.
    await db.fetchval("SELECT ragplane_ensure_partitions('query_logs', 'day', 9)")

    day = await db.fetchval("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '8 days', 'YYYYMMDD')")
    after = await db.fetchval("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '9 days', 'YYYYMMDD')")
    assert await db.fetchval("SELECT to_regclass($1)", f"query_logs_p{day}") is None
    assert await db.fetchval("SELECT to_regclass($1)", f"query_logs_p{after}") is not None
    assert await db.fetchval("SELECT count(*) FROM query_logs") == 1


async def test_maintenance_drops_expired_partitions_and_rows(db: asyncpg.Connection) -> None:
    await db.execute(
        "CREATE TABLE query_logs_p20000101 PARTITION OF query_logs FOR VALUES FROM ('2000-01-01') TO ('2000-01-02')"
    )
    await db.execute(
        "INSERT INTO query_logs (time, collection, kind, query_hash, query_text, results, latency_s, cache_hit, "
        "degraded, status) VALUES ('2000-01-01 12:00Z', 'docs', 'search', 'q', 'q', 1, 0.1, false, false, 200), "
        "('1999-01-01 12:00Z', 'docs', 'search', 'q', 'q', 1, 0.1, false, false, 200)"
    )

    await db.execute("SELECT ragplane_keep_partitions('query_logs', 'time', 'day', 7, interval '30 days')")

    assert await db.fetchval("SELECT to_regclass('query_logs_p20000101')") is None
    assert await db.fetchval("SELECT count(*) FROM query_logs") == 0
    future = await db.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'query_logs'::regclass")
    assert future >= 9  # yesterday, today, a week ahead, and the default


async def test_the_three_rollups_return_rows_after_refresh(db: asyncpg.Connection, database_url: str) -> None:
    await _sample(db)
    registry = PostgresRegistry(database_url, pool_size=1, timeout_s=5)

    assert await registry.maintain(job_retention_days=90) == "partitioned"  # the collections service's
    await registry.close()
    assert await Upkeep(QUERY_LOGS).run(db, retention_days=30) == "partitioned"  # the query service's

    minutes = await db.fetch(
        "SELECT kind, queries, cache_hits, degraded, slow_queries FROM query_stats_1m ORDER BY kind"
    )
    assert [dict(r) for r in minutes] == [
        {"kind": "query", "queries": 1, "cache_hits": 0, "degraded": 1, "slow_queries": 1},
        {"kind": "search", "queries": 2, "cache_hits": 1, "degraded": 0, "slow_queries": 0},
    ]
    hours = await db.fetchrow(
        "SELECT sum(jobs) AS jobs, sum(failed) AS failed, sum(chunks) AS chunks FROM ingestion_stats_1h"
    )
    assert dict(hours) == {"jobs": 2, "failed": 1, "chunks": 3}
    gaps = await db.fetchrow("SELECT queries, distinct_queries, empty_results FROM query_gaps_1d")
    assert dict(gaps) == {"queries": 3, "distinct_queries": 2, "empty_results": 1}


async def test_partitions_are_utc_days_and_months_whatever_the_session_time_zone(db: asyncpg.Connection) -> None:
    partitions = (
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ingestion_jobs'::regclass "
        "AND c.relname <> 'ingestion_jobs_default'"
    )
    for row in await db.fetch(partitions):
        await db.execute(f'DROP TABLE "{row["relname"]}"')
    await db.execute("SET timezone = 'America/New_York'")

    await db.execute("SELECT ragplane_keep_partitions('ingestion_jobs', 'created_at', 'month', 2, interval '90 days')")

    await db.execute("SET timezone = 'UTC'")
    bounds = await db.fetch(partitions)
    assert len(bounds) == 4  # last month, this month, two ahead
    for row in bounds:
        month = row["relname"].removeprefix("ingestion_jobs_p")
        assert f"FROM ('{month[:4]}-{month[4:]}-01 00:00:00+00')" in row["bound"], row


async def test_one_replica_at_a_time_does_the_upkeep(db: asyncpg.Connection, database_url: str) -> None:
    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(hashtext('ragplane_keep_partitions query_logs'))")
            keep = "SELECT ragplane_keep_partitions($1, $2, $3, 2, interval '1 day')"
            assert await db.fetchval(keep, "query_logs", "time", "day") == "busy"
            assert await db.fetchval(keep, "ingestion_jobs", "created_at", "month") == "partitioned"  # its own turn
    finally:
        await other.close()
