"""`ragplane migrate-json`: move the JSON registry into PostgreSQL and prove it arrived intact.

The JSON file is the source, the database may already be in use (a service with
`DATABASE_URL` set may have ingested newer versions), so the move only ever adds:
collections the database lacks are created, documents it lacks are inserted with
`ON CONFLICT DO NOTHING`, and nothing already there is overwritten. Rows that disagree
show up in the integrity check instead, for a person to decide. Rerunning is safe: it
inserts nothing and checks again.

The check compares every JSON collection and document with its row, field by field,
plus per collection the document count, the total chunk count and a checksum over
the sorted (document id, content hash) pairs computed on each side. Rows only in the
database are listed for information; they are not errors.

Chunk rows are not in the JSON file: they are rebuilt from the Qdrant points of each
document's version (see `chunk_rows`), and the check then compares, per document, its
chunk rows with its `chunks` count, and per collection their totals. Qdrant in local
mode allows one process per directory, so that step fails while a ragplane runs on it;
`--skip-chunks` leaves the rows out and lists their differences for information only.
Jobs are not moved.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import asyncpg
from tqdm import tqdm

from ragplane.adapters.vectors import VectorStore
from ragplane.errors import (
    ChunkStepError,
    CollectionExists,
    DependencyUnavailable,
    MigrationError,
    RegistryError,
    TransferError,
)
from ragplane.ops import chunk_rows
from ragplane.redaction import redacted_url
from ragplane.services.collections.models import CollectionRecord, DocumentRecord
from ragplane.services.collections.registry import Snapshot
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.settings import Settings

COLLECTION_FIELDS = ("embedder", "dimension", "description", "chunk_size", "chunk_overlap")
DOCUMENT_FIELDS = ("title", "content_hash", "chunks", "bytes", "source", "metadata")
# Vectors made by another embedder or of another size cannot share a collection.
COMPATIBLE_FIELDS = ("embedder", "dimension")
BATCH = 200
SHOWN_DB_ONLY = 20
# Opens the vector store the chunk rows are read from (and closes it on exit).
StoreOpener = Callable[[], AbstractAsyncContextManager[VectorStore]]


@dataclass
class Report:
    """What a migration did (or, with `dry_run`, would do) and what the check found."""

    dry_run: bool
    collections: int = 0
    documents: int = 0
    created: int = 0
    inserted: int = 0
    already_there: int = 0
    held_back: int = 0  # documents of a collection whose DB row has another embedder or dimension
    differences: list[str] = field(default_factory=list)
    db_only: list[str] = field(default_factory=list)
    # The chunk step: "filled" from Qdrant, "skipped" (--skip-chunks), or not run in a "dry run".
    chunk_step: Literal["filled", "skipped", "dry run"] = "filled"
    chunk_rows_inserted: int = 0
    chunk_rows: int = 0  # chunk rows in the db of the JSON documents checked
    chunk_problems: list[str] = field(default_factory=list)  # why rows could not be filled
    chunk_notes: list[str] = field(default_factory=list)  # chunk-row differences left for information

    @property
    def intact(self) -> bool:
        return not self.differences and not self.chunk_problems


def checksum(documents: Mapping[str, DocumentRecord]) -> str:
    """sha256 over the sorted (id, content_hash) pairs; JSON-encoded so no id can fake a boundary."""
    pairs = sorted((d.id, d.content_hash) for d in documents.values())
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(source: Snapshot, db: Snapshot) -> tuple[list[str], list[str]]:
    """(differences, rows only in the database) between the JSON registry and the database."""
    differences: list[str] = []
    db_only = [f"collection {name}: in db only" for name in sorted(set(db.collections) - set(source.collections))]
    for name in sorted(source.collections):
        ours, docs = source.collections[name], source.documents.get(name, {})
        theirs = db.collections.get(name)
        if theirs is None:
            differences.append(f"collection {name}: missing in db ({len(docs)} documents)")
            continue
        for f in COLLECTION_FIELDS:
            a, b = getattr(ours, f), getattr(theirs, f)
            if a != b:
                differences.append(f"collection {name}: {f} {_show(a)} (json) != {_show(b)} (db)")
        stored = db.documents.get(name, {})
        found = {d: stored[d] for d in docs if d in stored}
        if len(found) != len(docs):
            differences.append(f"collection {name}: {len(docs)} documents (json) != {len(found)} (db)")
        chunks = (sum(d.chunks for d in docs.values()), sum(d.chunks for d in found.values()))
        if chunks[0] != chunks[1]:
            differences.append(f"collection {name}: {chunks[0]} chunks (json) != {chunks[1]} (db)")
        sums = (checksum(docs), checksum(found))
        if sums[0] != sums[1]:
            differences.append(f"collection {name}: checksum {sums[0][:12]} (json) != {sums[1][:12]} (db)")
        for doc_id in sorted(docs):
            row = found.get(doc_id)
            if row is None:
                differences.append(f"{name}/{doc_id}: missing in db")
                continue
            for f in DOCUMENT_FIELDS:
                a, b = getattr(docs[doc_id], f), getattr(row, f)
                if a != b:
                    differences.append(f"{name}/{doc_id}: {f} {_show(a)} (json) != {_show(b)} (db)")
        db_only += [f"{name}/{d}: in db only" for d in sorted(set(stored) - set(docs))]
    return differences, db_only


async def load_json(path: Path) -> Snapshot:
    """The JSON registry at `path`; a missing file is an error here, not an empty registry."""
    if not await asyncio.to_thread(path.is_file):
        raise TransferError(f"no JSON registry at {path}: nothing to migrate (give its path with --registry)")
    registry = JsonRegistry(path)
    try:
        await registry.open()
    except RegistryError as exc:
        raise TransferError(str(exc)) from exc
    collections = {c.name: c for c in await registry.list_collections()}
    return Snapshot(collections, {name: await registry.documents(name) for name in collections}, {})


def _compatible(a: CollectionRecord, b: CollectionRecord) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in COMPATIBLE_FIELDS)


async def migrate_json(
    json_path: Path,
    db: PostgresRegistry,
    *,
    dry_run: bool,
    progress: bool = True,
    chunks_from: StoreOpener | None = None,
) -> Report:
    """Copy what the database lacks from the JSON registry at `json_path`, then verify.

    With `dry_run` nothing is written; the check then runs against the database as the
    real run would leave it, so it lists exactly the differences a migration cannot fix
    (Qdrant is not read, so chunk rows are not checked). Chunk rows are filled from the
    store `chunks_from` opens; without it they are skipped and their check is
    informational. `db` must be open (its schema checked).
    """
    source = await load_json(json_path)
    before = await db.export()
    report = Report(dry_run, len(source.collections), sum(len(d) for d in source.documents.values()))
    projected = Snapshot(dict(before.collections), {k: dict(v) for k, v in before.documents.items()}, {})
    bar = tqdm(
        total=report.documents,
        unit="doc",
        desc="migrate-json (dry run)" if dry_run else "migrate-json",
        disable=None if progress else True,  # None: shown on a terminal only
    )
    with bar:
        for name in sorted(source.collections):
            ours, docs = source.collections[name], source.documents.get(name, {})
            theirs = before.collections.get(name)
            if theirs is None and not dry_run:
                try:
                    await db.add_collection(ours)
                except CollectionExists:  # created since we looked: treat it as found
                    theirs = await db.get_collection(name)
            if theirs is None:
                report.created += 1
                projected.collections[name], projected.documents[name] = ours, {}
            elif not _compatible(ours, theirs):
                report.held_back += len(docs)
                bar.update(len(docs))
                continue
            records = sorted(docs.values(), key=lambda d: d.id)
            for start in range(0, len(records), BATCH):
                batch = records[start : start + BATCH]
                if dry_run:
                    new = [r for r in batch if r.id not in projected.documents.get(name, {})]
                    projected.documents.setdefault(name, {}).update({r.id: r for r in new})
                    count = len(new)
                else:
                    count = await db.insert_documents(name, batch)
                report.inserted += count
                report.already_there += len(batch) - count
                bar.update(len(batch))
    after = projected if dry_run else await db.export()
    report.differences, report.db_only = compare(source, after)
    if dry_run:
        report.chunk_step = "dry run"
    else:
        await _chunk_step(source, after, db, report, chunks_from, progress=progress)
    return report


async def _chunk_step(
    source: Snapshot,
    after: Snapshot,
    db: PostgresRegistry,
    report: Report,
    chunks_from: StoreOpener | None,
    *,
    progress: bool,
) -> None:
    """Fill the JSON documents' missing chunk rows from Qdrant, then check them all."""
    # Held-back collections are left alone: their JSON documents are not in the database.
    names = [
        n
        for n in sorted(source.collections)
        if n in after.collections and _compatible(source.collections[n], after.collections[n])
    ]
    counts = {name: await db.chunk_counts(name) for name in names}
    wanted = chunk_rows.incomplete(source, after, names, counts)
    if chunks_from is None:
        report.chunk_step = "skipped"
    elif wanted:  # nothing wanted (a rerun): Qdrant is not even opened
        try:
            async with chunks_from() as store:
                report.chunk_rows_inserted, report.chunk_problems = await chunk_rows.fill(
                    store, db, wanted, progress=progress
                )
        except ChunkStepError as exc:
            report.chunk_problems.append(str(exc))
        counts.update({name: await db.chunk_counts(name) for name in wanted})
    lines, report.chunk_rows = chunk_rows.check(source, after, names, counts)
    if chunks_from is None:
        report.chunk_notes = lines
    else:
        report.differences += lines


def summary(report: Report) -> list[str]:
    """The lines `ragplane migrate-json` prints for `report`."""
    would = "would be " if report.dry_run else ""
    line = (
        f"{report.collections} collections, {report.documents} documents: {report.created} {would}created, "
        f"{report.inserted} {would}inserted, {report.already_there} already there"
    )
    if report.held_back:
        line += f", {report.held_back} held back (their collection has another embedder or dimension in the db)"
    line += {
        "filled": f"; {report.chunk_rows_inserted} chunk rows from Qdrant",
        "skipped": "; chunk rows skipped (--skip-chunks)",
        "dry run": "; chunk rows not read (a real run fills them from Qdrant)",
    }[report.chunk_step]
    lines = [f"dry run, nothing written: {line}" if report.dry_run else line]
    lines += [f"chunks: {p}" for p in report.chunk_problems]
    check = "integrity check after a real run" if report.dry_run else "integrity check"
    if not report.differences:
        agree = "would agree" if report.dry_run else "agree"
        rows = f"{report.chunk_rows} chunk rows, " if report.chunk_step == "filled" else ""
        lines.append(
            f"{check}: JSON and PostgreSQL {agree} ({report.collections} collections, "
            f"{report.documents} documents, {rows}checksums equal)"
        )
    else:
        lines.append(f"{check}: {len(report.differences)} differences between JSON (source) and PostgreSQL")
        lines += [f"  {d}" for d in report.differences]
    lines += _shortened("chunk rows not filled (--skip-chunks; for information, not an error)", report.chunk_notes)
    lines += _shortened("in PostgreSQL only (kept; not an error)", report.db_only)
    return lines


def _shortened(title: str, items: list[str]) -> list[str]:
    """`title: n` and the first items, indented; nothing when there are none."""
    if not items:
        return []
    lines = [f"{title}: {len(items)}"] + [f"  {d}" for d in items[:SHOWN_DB_ONLY]]
    if len(items) > SHOWN_DB_ONLY:
        lines.append(f"  ... and {len(items) - SHOWN_DB_ONLY} more")
    return lines


async def _migrate(
    settings: Settings, url: str, path: Path, *, dry_run: bool, progress: bool, skip_chunks: bool
) -> Report:
    db = PostgresRegistry(url, pool_size=2, timeout_s=settings.database.database_timeout_s, migrate_on_start=False)
    chunks_from = None if skip_chunks else partial(chunk_rows.qdrant, settings)
    try:
        await db.open()
        return await migrate_json(path, db, dry_run=dry_run, progress=progress, chunks_from=chunks_from)
    finally:
        await db.close()


def run(
    settings: Settings,
    registry: Path | None,
    *,
    dry_run: bool,
    say: Callable[[str], None],
    progress: bool = True,
    skip_chunks: bool = False,
) -> int:
    """`ragplane migrate-json`: 0 when JSON and PostgreSQL agree, 1 on any difference or
    failure (unreadable registry, database unreachable, schema behind, chunk rows that cannot
    be read from Qdrant), 2 without DATABASE_URL. `skip_chunks` (`--skip-chunks`) leaves
    Qdrant alone: chunk rows are not filled and their differences are for information."""
    url = settings.database.database_url
    if not url:
        say("ragplane: DATABASE_URL is not set: there is no database to migrate the JSON registry into")
        return 2
    path = registry or settings.registry_path
    try:
        report = asyncio.run(_migrate(settings, url, path, dry_run=dry_run, progress=progress, skip_chunks=skip_chunks))
    except (TransferError, RegistryError, MigrationError) as exc:  # MigrationError includes SchemaBehind
        say(f"ragplane: {exc}")
        return 1
    except DependencyUnavailable as exc:
        say(f"ragplane: cannot reach {redacted_url(url)}: {exc.message}")
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        say(f"ragplane: cannot migrate into {redacted_url(url)}: {exc}")
        return 1
    for line in summary(report):
        say(line)
    return 0 if report.intact else 1
