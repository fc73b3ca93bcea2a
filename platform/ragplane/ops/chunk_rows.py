"""Chunk rows rebuilt from Qdrant, for the documents `ragplane migrate-json` moves into PostgreSQL.

The JSON registry keeps no chunk rows, and ingesting an unchanged document again is
skipped (same content hash), so migrated documents would never get rows in `chunks`.
Their text is in Qdrant though: every chunk is a point whose id is `points.point_id(...)`
and whose payload holds the document id, content hash, chunk index, section and text.
`fill` reads a collection's points a page at a time, keeps those of each document's
version in the database (its content hash there) and inserts the rows the database
lacks; it never changes or deletes a row. `check` then compares, per JSON document in
the database, its chunk rows with its `chunks` count.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from tqdm import tqdm

from ragplane.adapters.vectors import VectorStore
from ragplane.errors import ChunkStepError, CollectionNotFound, DependencyError, VectorStoreLocked
from ragplane.services.collections.models import ChunkRecord, DocumentRecord
from ragplane.services.collections.registry import Snapshot
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.settings import Settings

PAGE = 256
# Wanted chunk rows: {collection: {document id: its content hash in the database}}.
Wanted = Mapping[str, Mapping[str, str]]
Counts = Mapping[str, Mapping[str, int]]


def _where(store: VectorStore) -> str:
    return str(store.describe()["location"])


@asynccontextmanager
async def qdrant(settings: Settings) -> AsyncIterator[VectorStore]:
    """The open vector store of `settings`, closed on exit; ChunkStepError when it cannot be opened.

    A local directory that does not exist is not created: there is nothing in it to read.
    """
    store = VectorStore.configured(settings.qdrant, settings.qdrant_path)
    try:
        if store.path is not None and not await asyncio.to_thread(store.path.is_dir):
            raise ChunkStepError(f"no Qdrant data at {store.path} (set RAGPLANE_DATA_DIR, or QDRANT_URLS)")
        try:
            await store.open()
        except VectorStoreLocked as exc:
            raise ChunkStepError(
                f"cannot open Qdrant at {_where(store)} (a running ragplane uses it: stop it, or use QDRANT_URLS)"
            ) from exc
        except (RuntimeError, OSError, ValueError) as exc:
            raise ChunkStepError(f"cannot open Qdrant at {_where(store)}: {exc}") from exc
        yield store
    finally:
        await store.close()


def _checked(source: Snapshot, db: Snapshot, names: Iterable[str]) -> Iterator[tuple[str, str, DocumentRecord]]:
    """(collection, document id, database row) of each JSON document of `names` that is in the database."""
    for name in names:
        stored = db.documents.get(name, {})
        for doc_id in sorted(source.documents.get(name, {})):
            if doc_id in stored:
                yield name, doc_id, stored[doc_id]


def incomplete(source: Snapshot, db: Snapshot, names: Iterable[str], counts: Counts) -> dict[str, dict[str, str]]:
    """The JSON documents (in the database) whose chunk rows differ in number from their `chunks`."""
    wanted: dict[str, dict[str, str]] = {}
    for name, doc_id, row in _checked(source, db, names):
        if counts.get(name, {}).get(doc_id, 0) != row.chunks:
            wanted.setdefault(name, {})[doc_id] = row.content_hash
    return wanted


def check(source: Snapshot, db: Snapshot, names: Iterable[str], counts: Counts) -> tuple[list[str], int]:
    """(differences, chunk rows found): per collection the total, per document its own count."""
    lines: list[str] = []
    found = 0
    by_collection: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for name, doc_id, row in _checked(source, db, names):
        by_collection[name].append((doc_id, counts.get(name, {}).get(doc_id, 0), row.chunks))
    for name, docs in by_collection.items():
        rows, expected = sum(d[1] for d in docs), sum(d[2] for d in docs)
        found += rows
        if rows != expected:
            lines.append(f"collection {name}: {rows} chunk rows in db, {expected} expected")
        lines += [f"{name}/{doc_id}: {n} chunk rows in db, {want} expected" for doc_id, n, want in docs if n != want]
    return lines, found


def _record(doc_id: str, point_id: str, payload: Mapping[str, Any], content_hash: str) -> ChunkRecord | None:
    """The chunk row of a point of the wanted version, or None (another version, or not a chunk)."""
    index, text = payload.get("chunk_index"), payload.get("text")
    if payload.get("content_hash") != content_hash or not isinstance(text, str):
        return None
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return None
    return ChunkRecord(doc_id, index, point_id, str(payload.get("section") or ""), text)


def _rows(page: Iterable[tuple[str, Mapping[str, Any]]], wanted: Mapping[str, str]) -> dict[str, list[ChunkRecord]]:
    """The chunk rows of a page of points, per document, for the wanted documents' versions."""
    rows: dict[str, list[ChunkRecord]] = defaultdict(list)
    for point_id, payload in page:
        doc_id = payload.get("document_id")
        if isinstance(doc_id, str) and doc_id in wanted:
            record = _record(doc_id, point_id, payload, wanted[doc_id])
            if record is not None:
                rows[doc_id].append(record)
    return rows


async def fill(store: VectorStore, db: PostgresRegistry, wanted: Wanted, *, progress: bool) -> tuple[int, list[str]]:
    """Insert the missing chunk rows of `wanted` from the points in `store` (open).

    Returns (rows inserted, problems). A collection missing from Qdrant is a problem and
    the others go on; Qdrant unreachable or refusing is one too, and ends the step.
    """
    inserted, problems = 0, []
    with tqdm(total=0, unit="point", desc="chunk rows from Qdrant", disable=None if progress else True) as bar:
        for name in sorted(wanted):
            try:
                bar.total = (bar.total or 0) + await store.count(name)
                bar.refresh()
                async for page in store.payload_pages(name, page=PAGE):
                    inserted += await db.insert_chunks(name, _rows(page, wanted[name]))
                    bar.update(len(page))
            except CollectionNotFound:
                problems.append(f"no collection {name} in Qdrant at {_where(store)}")
            except DependencyError as exc:
                problems.append(f"cannot read Qdrant at {_where(store)}: {exc.message}")
                break
    return inserted, problems
