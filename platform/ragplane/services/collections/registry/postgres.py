"""The registry in PostgreSQL (or TimescaleDB): collections, documents, chunks and jobs.

Same interface as the JSON registry, so the service does not know which it talks to.
Documents and their chunks are written in one transaction: a document's old chunk rows
are replaced by its new ones, or nothing changes. Losing the database surfaces as
`DependencyUnavailable` (from `adapters.postgres.unavailable`), which the hybrid registry
turns into a fallback for reads and a 503 for writes.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ragplane.adapters import postgres
from ragplane.adapters.migrations import ensure_current
from ragplane.adapters.timeseries import TimeSeries, Upkeep
from ragplane.errors import CollectionExists, RegistryError
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord
from ragplane.services.collections.registry import KEEP_FINISHED_JOBS, Snapshot
from ragplane.services.collections.registry.migrations import SCHEMA

COLLECTION_COLUMNS = ("name", "embedder", "dimension", "description", "chunk_size", "chunk_overlap", "created_at")
DOCUMENT_COLUMNS = ("id", "title", "content_hash", "chunks", "bytes", "source", "metadata", "ingested_at")
CHUNK_COLUMNS = ("collection", "document_id", "chunk_index", "point_id", "section", "text")
JOB_COLUMNS = (
    *("id", "collection", "state", "documents_total", "documents_ingested", "documents_skipped", "documents_failed"),
    *("chunks", "chunks_total", "error", "created_at", "started_at", "finished_at", "sweep_pending"),
)
TIME_COLUMNS = frozenset({"created_at", "ingested_at", "started_at", "finished_at"})
UNFINISHED = ("queued", "running")
JOBS = TimeSeries("ingestion_jobs", "created_at", "month", 2, rollups={"ingestion_stats_1h": 300.0})


def to_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _values(record: Any, columns: Sequence[str]) -> list[Any]:
    return [to_time(getattr(record, c)) if c in TIME_COLUMNS else getattr(record, c) for c in columns]


def _fields(row: asyncpg.Record) -> dict[str, Any]:
    return {k: to_epoch(v) if k in TIME_COLUMNS else v for k, v in row.items()}


def _insert(table: str, columns: Sequence[str]) -> str:
    params = ", ".join(f"${i + 1}" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({params})"  # noqa: S608 - constant names only


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return f"{_insert(table, columns)} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


INSERT_COLLECTION = _insert("collections", COLLECTION_COLUMNS)
UPSERT_DOCUMENT = _upsert("documents", ("collection", *DOCUMENT_COLUMNS), ("collection", "id"))
# By id alone: the primary key must include the partition column, but a job is one row whatever
# its created_at reads back as. created_at never changes (it would move the row between partitions).
_JOB_UPDATES = ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(JOB_COLUMNS) if c not in ("id", "created_at"))
_JOB_PARAMS = ", ".join(
    f"${i + 1}::timestamptz" if c in TIME_COLUMNS else f"${i + 1}" for i, c in enumerate(JOB_COLUMNS)
)
SAVE_JOB = (
    f"WITH updated AS (UPDATE ingestion_jobs SET {_JOB_UPDATES} WHERE id = $1 RETURNING 1) "  # noqa: S608
    f"INSERT INTO ingestion_jobs ({', '.join(JOB_COLUMNS)}) SELECT {_JOB_PARAMS} "
    "WHERE NOT EXISTS (SELECT 1 FROM updated)"
)


# Column types for inserting many documents as one array per column (unnest): arrays of jsonb
# have no asyncpg codec, so metadata travels as JSON text and is cast back.
_ARRAY_TYPES = {
    "id": "text",
    "title": "text",
    "content_hash": "text",
    "chunks": "integer",
    "bytes": "bigint",
    "source": "text",
    "metadata": "text",
    "ingested_at": "timestamptz",
}
_NAMES = ", ".join(DOCUMENT_COLUMNS)
INSERT_NEW_DOCUMENTS = (
    f"INSERT INTO documents (collection, {_NAMES}) "  # noqa: S608 - constant names only
    f"SELECT $1, {', '.join('d.metadata::jsonb' if c == 'metadata' else f'd.{c}' for c in DOCUMENT_COLUMNS)} "
    f"FROM unnest({', '.join(f'${i + 2}::{_ARRAY_TYPES[c]}[]' for i, c in enumerate(DOCUMENT_COLUMNS))}) "
    f"AS d({_NAMES}) ON CONFLICT (collection, id) DO NOTHING RETURNING id"
)


def _chunk_rows(collection: str, chunks: Mapping[str, Sequence[ChunkRecord]]) -> list[tuple[Any, ...]]:
    """`chunks` as rows of the `chunks` table, in CHUNK_COLUMNS order."""
    return [
        (collection, c.document_id, c.index, uuid.UUID(c.point_id), c.section, c.text)
        for doc_chunks in chunks.values()
        for c in doc_chunks
    ]


class PostgresRegistry:
    backend = "postgres"

    def __init__(self, url: str, *, pool_size: int, timeout_s: float, migrate_on_start: bool = True) -> None:
        self.url = url
        self.migrate_on_start = migrate_on_start
        self.pool_size = pool_size
        self.timeout_s = timeout_s
        # Made on first use: an asyncpg pool belongs to the event loop it is created in.
        self._pool: postgres.Pool | None = None
        self._upkeep = Upkeep(JOBS)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[postgres.Connection]:
        try:
            if self._pool is None:
                pool = postgres.create_pool(
                    self.url, size=self.pool_size, timeout_s=self.timeout_s, application="collections"
                )
                await pool
                self._pool = pool
            pool = self._pool
            conn = await pool.acquire()
        except Exception as exc:  # refused, revoked, wrong password, no such database: unreachable for us
            raise postgres.unavailable(exc) or postgres.cannot_connect(exc) from exc
        try:
            yield conn
        except Exception as exc:
            down = postgres.unavailable(exc)
            if down is not None and down is not exc:
                raise down from exc
            raise
        finally:
            await pool.release(conn)

    @contextlib.asynccontextmanager
    async def advisory_lock(self, key: int) -> AsyncIterator[bool]:
        """Whether this process holds advisory lock `key` (never waits): work one replica does at a time."""
        async with self._connection() as conn, postgres.advisory_lock(conn, key) as held:
            yield held

    async def open(self) -> None:
        """Bring the schema up to date (or check it is), so every later query can rely on it."""
        async with self._connection() as conn:
            await ensure_current(conn, SCHEMA, apply=self.migrate_on_start)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ensure_writable(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "up", **postgres.describe_url(self.url)}

    async def check(self) -> dict[str, Any]:
        async with self._connection() as conn:
            count = await conn.fetchval("SELECT count(*) FROM collections")
        return {"backend": self.backend, "collections": count}

    async def list_collections(self) -> list[CollectionRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT * FROM collections ORDER BY name")
        return [CollectionRecord.from_json(_fields(r)) for r in rows]

    async def get_collection(self, name: str) -> CollectionRecord | None:
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT * FROM collections WHERE name = $1", name)
        return None if row is None else CollectionRecord.from_json(_fields(row))

    async def add_collection(self, record: CollectionRecord) -> None:
        async with self._connection() as conn:
            try:
                await conn.execute(INSERT_COLLECTION, *_values(record, COLLECTION_COLUMNS))
            except asyncpg.UniqueViolationError:
                raise CollectionExists(record.name) from None

    async def remove_collection(self, name: str) -> CollectionRecord | None:
        """Delete the collection with its documents and chunks; its jobs stay as history."""
        async with self._connection() as conn:
            row = await conn.fetchrow("DELETE FROM collections WHERE name = $1 RETURNING *", name)
        return None if row is None else CollectionRecord.from_json(_fields(row))

    async def documents(self, collection: str) -> dict[str, DocumentRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT * FROM documents WHERE collection = $1", collection)
        return {r["id"]: DocumentRecord.from_json(_fields(r)) for r in rows}

    async def put_documents(
        self,
        collection: str,
        records: Sequence[DocumentRecord],
        chunks: Mapping[str, Sequence[ChunkRecord]] | None = None,
    ) -> None:
        """Insert or replace documents; those with entries in `chunks` get exactly those chunk rows."""
        chunks = chunks or {}
        rows = _chunk_rows(collection, chunks)
        async with self._connection() as conn, conn.transaction():
            try:
                await conn.executemany(UPSERT_DOCUMENT, [[collection, *_values(r, DOCUMENT_COLUMNS)] for r in records])
            except asyncpg.ForeignKeyViolationError:
                raise RegistryError(
                    f"collection {collection!r} was deleted while its documents were ingested"
                ) from None
            if chunks:
                await conn.execute(
                    "DELETE FROM chunks WHERE collection = $1 AND document_id = ANY($2::text[])",
                    collection,
                    list(chunks),
                )
            if rows:
                await conn.copy_records_to_table("chunks", records=rows, columns=CHUNK_COLUMNS)

    async def remove_documents(self, collection: str, ids: Sequence[str]) -> list[str]:
        """Their chunk rows go with them (ON DELETE CASCADE)."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                "DELETE FROM documents WHERE collection = $1 AND id = ANY($2::text[]) RETURNING id",
                collection,
                list(ids),
            )
        return [r["id"] for r in rows]

    async def insert_documents(self, collection: str, records: Sequence[DocumentRecord]) -> int:
        """Insert the documents the database lacks, in one statement; returns how many were new.

        Not `put_documents`, which upserts: `ragplane migrate-json` must never overwrite a
        newer row a running service wrote between its read and this write.
        """
        columns: dict[str, list[Any]] = {c: [] for c in DOCUMENT_COLUMNS}
        for record in records:
            for c in DOCUMENT_COLUMNS:
                value = getattr(record, c)
                columns[c].append(
                    json.dumps(value) if c == "metadata" else to_time(value) if c in TIME_COLUMNS else value
                )
        async with self._connection() as conn:
            try:
                rows = await conn.fetch(INSERT_NEW_DOCUMENTS, collection, *columns.values())
            except asyncpg.ForeignKeyViolationError:
                raise RegistryError(f"collection {collection!r} was deleted while documents were added") from None
        return len(rows)

    async def insert_chunks(self, collection: str, chunks: Mapping[str, Sequence[ChunkRecord]]) -> int:
        """Add chunk rows the database lacks (never replaces one); returns how many were new.

        For `ragplane migrate-json`, which rebuilds the rows of migrated documents from Qdrant.
        """
        rows = _chunk_rows(collection, chunks)
        if not rows:
            return 0
        async with self._connection() as conn:
            inserted = await conn.fetch(
                "INSERT INTO chunks (collection, document_id, chunk_index, point_id, section, text) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::uuid[], $5::text[], $6::text[]) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                *(list(column) for column in zip(*rows, strict=True)),
            )
        return len(inserted)

    async def chunk_counts(self, collection: str) -> dict[str, int]:
        """Chunk rows per document of `collection` (documents without rows are absent)."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT document_id, count(*) AS n FROM chunks WHERE collection = $1 GROUP BY document_id", collection
            )
        return {r["document_id"]: r["n"] for r in rows}

    async def chunks(self, collection: str, document_id: str) -> list[ChunkRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM chunks WHERE collection = $1 AND document_id = $2 ORDER BY chunk_index",
                collection,
                document_id,
            )
        return [
            ChunkRecord(r["document_id"], r["chunk_index"], str(r["point_id"]), r["section"], r["text"]) for r in rows
        ]

    async def save_job(self, job: JobRecord) -> None:
        async with self._connection() as conn:
            await conn.execute(SAVE_JOB, *_values(job, JOB_COLUMNS))

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM ingestion_jobs WHERE id = $1 ORDER BY created_at DESC LIMIT 1", job_id
            )
        return None if row is None else JobRecord.from_json(_fields(row))

    async def jobs_to_recover(self) -> list[JobRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM ingestion_jobs WHERE state = ANY($1::text[]) OR sweep_pending", list(UNFINISHED)
            )
        return [JobRecord.from_json(_fields(r)) for r in rows]

    async def list_jobs(
        self, *, state: str | None = None, collection: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM ingestion_jobs WHERE ($1::text IS NULL OR state = $1) "
                "AND ($2::text IS NULL OR collection = $2) ORDER BY created_at DESC LIMIT $3",
                state,
                collection,
                limit,
            )
        return [JobRecord.from_json(_fields(r)) for r in rows]

    async def job_counts(self) -> dict[str, int]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT state, count(*) AS n FROM ingestion_jobs "
                "WHERE state = ANY($1::text[]) OR created_at > now() - interval '24 hours' GROUP BY state",
                list(UNFINISHED),
            )
        return {r["state"]: r["n"] for r in rows}

    async def export(self) -> Snapshot:
        """Everything the JSON snapshot keeps, read in one repeatable-read transaction."""
        async with self._connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            collections = await conn.fetch("SELECT * FROM collections")
            documents = await conn.fetch("SELECT * FROM documents")
            jobs = await conn.fetch(
                "(SELECT * FROM ingestion_jobs WHERE state = ANY($1::text[]) OR sweep_pending) UNION ALL "
                "(SELECT * FROM ingestion_jobs WHERE state <> ALL($1::text[]) AND NOT sweep_pending "
                "ORDER BY created_at DESC LIMIT $2)",
                list(UNFINISHED),
                KEEP_FINISHED_JOBS,
            )
        docs: dict[str, dict[str, DocumentRecord]] = {r["name"]: {} for r in collections}
        for row in documents:
            docs.setdefault(row["collection"], {})[row["id"]] = DocumentRecord.from_json(_fields(row))
        return Snapshot(
            collections={r["name"]: CollectionRecord.from_json(_fields(r)) for r in collections},
            documents=docs,
            jobs={r["id"]: JobRecord.from_json(_fields(r)) for r in jobs},
        )

    async def maintain(self, *, job_retention_days: int) -> str:
        """Partitions, retention and rollups of `ingestion_jobs` (`ragplane.adapters.timeseries`)."""
        async with self._connection() as conn:
            return await self._upkeep.run(conn, retention_days=job_retention_days)
