"""What only the PostgreSQL registry does: chunk rows, schema checks, export, losing the server."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ragplane.errors import DependencyUnavailable, SchemaBehind
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord, JobState
from ragplane.services.collections.registry.postgres import PostgresRegistry
from tests.pg import fetch, temporary_database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[PostgresRegistry]:
    r = PostgresRegistry(database_url, pool_size=2, timeout_s=5)
    await r.open()
    try:
        yield r
    finally:
        await r.close()


def chunks(doc_id: str, n: int, version: str) -> list[ChunkRecord]:
    return [ChunkRecord(doc_id, i, str(uuid.uuid4()), "Intro", f"{version} chunk {i}") for i in range(n)]


async def test_a_documents_chunk_rows_are_replaced_with_the_document(registry: PostgresRegistry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    first = DocumentRecord("x", "X", "h1", 3, 30)
    await registry.put_documents("a", [first], {"x": chunks("x", 3, "v1")})
    second = DocumentRecord("x", "X", "h2", 2, 20)
    await registry.put_documents("a", [second], {"x": chunks("x", 2, "v2")})

    stored = await registry.chunks("a", "x")

    assert [c.text for c in stored] == ["v2 chunk 0", "v2 chunk 1"]
    assert (await registry.documents("a"))["x"].chunks == 2


async def test_a_failed_write_leaves_the_previous_rows(registry: PostgresRegistry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.put_documents("a", [DocumentRecord("x", "X", "h1", 1, 3)], {"x": chunks("x", 1, "v1")})
    twice = ChunkRecord("x", 0, str(uuid.uuid4()), "", "v2")  # the same chunk index twice: fails mid-transaction
    broken = [twice, twice]

    with pytest.raises(asyncpg.UniqueViolationError):
        await registry.put_documents("a", [DocumentRecord("x", "X", "h2", 1, 3)], {"x": broken})

    assert (await registry.documents("a"))["x"].content_hash == "h1"
    assert [c.text for c in await registry.chunks("a", "x")] == ["v1 chunk 0"]


async def test_export_holds_everything_the_snapshot_needs(registry: PostgresRegistry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.add_collection(CollectionRecord("empty", "m", 3))
    await registry.put_documents("a", [DocumentRecord("x", "X", "h", 1, 3)])
    await registry.save_job(JobRecord(id="j", collection="a", state=JobState.RUNNING))

    snapshot = await registry.export()

    assert set(snapshot.collections) == {"a", "empty"}
    assert set(snapshot.documents["a"]) == {"x"} and snapshot.documents["empty"] == {}
    assert set(snapshot.jobs) == {"j"}


async def test_maintain_runs_the_database_upkeep(registry: PostgresRegistry, database_url: str) -> None:
    await registry.maintain(job_retention_days=1)
    sql = "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'ingestion_jobs'::regclass"
    assert (await fetch(database_url, sql))[0]["n"] >= 4  # this month, two ahead, the default (last month expired)


async def test_an_unreachable_server_is_a_dependency_failure() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = PostgresRegistry(f"postgresql://postgres@127.0.0.1:{port}/x", pool_size=1, timeout_s=2)

    with pytest.raises(DependencyUnavailable) as caught:
        await r.list_collections()

    assert caught.value.dependency == "postgres" and caught.value.kind == "unreachable"
    await r.close()


async def test_a_schema_behind_is_refused_without_migrate_on_start() -> None:
    with temporary_database(migrated=False) as url:
        r = PostgresRegistry(url, pool_size=1, timeout_s=5, migrate_on_start=False)
        with pytest.raises(SchemaBehind, match="ragplane migrate"):
            await r.open()
        await r.close()


async def test_insert_chunks_adds_only_missing_rows(registry: PostgresRegistry) -> None:
    await registry.add_collection(CollectionRecord("a", "m", 3))
    await registry.put_documents("a", [DocumentRecord("x", "X", "h", 2, 3), DocumentRecord("y", "Y", "h", 1, 3)])
    first = chunks("x", 2, "v1")

    assert await registry.insert_chunks("a", {"x": first[:1]}) == 1
    assert await registry.insert_chunks("a", {"x": first, "y": chunks("y", 1, "v1")}) == 2
    assert await registry.insert_chunks("a", {}) == 0
    assert await registry.chunk_counts("a") == {"x": 2, "y": 1}


async def test_a_database_that_cannot_be_entered_is_a_dependency_failure(database_url: str) -> None:
    r = PostgresRegistry(database_url + "_missing", pool_size=1, timeout_s=2)

    with pytest.raises(DependencyUnavailable, match="cannot connect"):
        await r.list_collections()

    await r.close()
