"""What PostgreSQL costs and carries, on this machine: the registry, the query log, migrate-json.

    .venv/bin/python loadtests/bench_database.py [--server postgresql://postgres@127.0.0.1:5432]
        [--documents 3000] [--entries 50000]

Creates a throw-away database on the server (dropped afterwards) and prints:

- registry: put_documents with chunk rows (documents/s and chunks/s), reading a
  collection's documents, and save_job, for the JSON file and for PostgreSQL;
- query log: the cost of `record()` on the request path (µs per call) and how many rows
  per second the writer lands in `query_logs`;
- migrate-json: seconds to move and verify a JSON registry of 3 collections holding
  `--documents` documents in all.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from ragplane.adapters.migrations import migrate
from ragplane.adapters.postgres import create_pool
from ragplane.adapters.querylog import QueryLog, QueryLogEntry
from ragplane.ops.migrate import SCHEMAS
from ragplane.ops.transfer import migrate_json
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.telemetry.metrics import ServiceMetrics

CHUNKS_PER_DOCUMENT = 8
BATCH = 16  # documents per put_documents, as ingestion records them


def documents(prefix: str, n: int) -> list[tuple[DocumentRecord, list[ChunkRecord]]]:
    out = []
    for i in range(n):
        doc_id = f"{prefix}/{i}.md"
        chunks = [
            ChunkRecord(doc_id, c, str(uuid.uuid4()), "Section", "lorem ipsum dolor sit amet " * 30)
            for c in range(CHUNKS_PER_DOCUMENT)
        ]
        out.append((DocumentRecord(doc_id, f"Doc {i}", uuid.uuid4().hex, len(chunks), 6000), chunks))
    return out


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def bench_registry(name: str, registry: Registry, n: int) -> None:
    await registry.open()
    await registry.add_collection(CollectionRecord("bench", "local", 384))
    docs = documents("bench", n)
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = docs[start : start + BATCH]
        await registry.put_documents("bench", [d for d, _ in batch], {d.id: c for d, c in batch})
    put_s = time.perf_counter() - started
    reads = [await timed(lambda: registry.documents("bench")) for _ in range(5)]
    saves = [await timed(lambda: registry.save_job(JobRecord(id="j", collection="bench"))) for _ in range(50)]
    print(
        f"registry {name:10s} put_documents {n / put_s:8.0f} documents/s ({n * CHUNKS_PER_DOCUMENT / put_s:7.0f} "
        f"chunks/s)  documents() of {n}: {statistics.median(reads) * 1000:6.1f} ms  "
        f"save_job: {statistics.median(saves) * 1000:5.2f} ms"
    )
    await registry.close()


async def bench_query_log(url: str, entries: int) -> None:
    metrics = ServiceMetrics("query")
    log = QueryLog(
        lambda: create_pool(url, size=2, timeout_s=10, application="bench"),
        metrics=metrics,
        batch_size=200,
        flush_s=0.2,
        capacity=entries,
        timeout_s=10,
        owns_pool=True,
    )
    await log.start()
    entry = QueryLogEntry.of("search", "bench", "how do breakers work", results=5, latency_s=0.02)
    started = time.perf_counter()
    for _ in range(entries):
        log.record(entry)
    record_s = time.perf_counter() - started
    while log.written + log.dropped < entries:  # noqa: ASYNC110 - the writer signals nothing; poll its counters
        await asyncio.sleep(0.01)
    landed_s = time.perf_counter() - started
    await log.close()
    print(
        f"query log  record(): {record_s / entries * 1e6:5.2f} µs/call   "
        f"written: {log.written / landed_s:8.0f} rows/s ({log.written} rows, {log.dropped} dropped)"
    )


async def bench_migrate_json(url: str, total: int, data: Path) -> None:
    source = JsonRegistry(data / "collections.json")
    await source.open()
    for index, name in enumerate(("physics", "cooking", "music")):
        await source.add_collection(CollectionRecord(name, "local", 384))
        docs = documents(name, total // 3 + (1 if index < total % 3 else 0))
        await source.put_documents(name, [d for d, _ in docs])
    db = PostgresRegistry(url, pool_size=4, timeout_s=30, migrate_on_start=False)
    await db.open()
    started = time.perf_counter()
    report = await migrate_json(source.path, db, dry_run=False, progress=False)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    await migrate_json(source.path, db, dry_run=False, progress=False)
    again_s = time.perf_counter() - started
    await db.close()
    print(
        f"migrate-json {report.documents} documents in 3 collections: {first_s:5.2f} s "
        f"(rerun, nothing to insert: {again_s:5.2f} s), intact: {report.intact}"
    )


async def main(server: str, documents_n: int, entries: int) -> None:
    name = f"rp_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    try:
        conn = await asyncpg.connect(url)
        started = time.perf_counter()
        for schema in SCHEMAS:  # both owners' tables, as `ragplane migrate` makes them
            await migrate(conn, schema)
        print(f"migrate    empty database to current schema: {time.perf_counter() - started:5.2f} s")
        await conn.close()
        with tempfile.TemporaryDirectory() as tmp:
            await bench_registry("json", JsonRegistry(Path(tmp) / "r.json"), documents_n)
        await bench_registry("postgres", PostgresRegistry(url, pool_size=4, timeout_s=30), documents_n)
        await bench_query_log(url, entries)
        conn = await asyncpg.connect(url)
        await conn.execute("DELETE FROM collections")
        await conn.close()
        with tempfile.TemporaryDirectory() as tmp:
            await bench_migrate_json(url, documents_n, Path(tmp))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--documents", type=int, default=3000)
    parser.add_argument("--entries", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(main(args.server, args.documents, args.entries))
