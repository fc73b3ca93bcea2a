import asyncio
import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from ragplane.adapters.vectors import Point, VectorStore
from ragplane.ops import chunk_rows
from ragplane.ops.transfer import Report, checksum, compare, migrate_json, run, summary
from ragplane.services.collections.models import CollectionRecord, DocumentRecord
from ragplane.services.collections.points import point_id
from ragplane.services.collections.registry import Snapshot
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.settings import Settings
from tests.conftest import SettingsFactory
from tests.pg import fetch, temporary_database

COLLECTIONS = {
    "docs": CollectionRecord("docs", "local:all-MiniLM-L6-v2", 384, "the docs", created_at=1700000000.125),
    "runbooks": CollectionRecord("runbooks", "local:all-MiniLM-L6-v2", 384, chunk_size=400, created_at=1700000100.5),
    "notes": CollectionRecord("notes", "ollama:nomic-embed-text", 768, "", 1000, 0, created_at=1700000200.0),
}
SIZES = {"docs": 6, "runbooks": 4, "notes": 3}
TOTAL = sum(SIZES.values())
CHUNKS = {name: sum(n + 1 for n in range(size)) for name, size in SIZES.items()}  # document n has n + 1 chunks
TOTAL_CHUNKS = sum(CHUNKS.values())


def document(collection: str, n: int) -> DocumentRecord:
    return DocumentRecord(
        id=f"{collection}/file-{n}.md",
        title=f"File {n} of {collection}",
        content_hash=f"{collection}-{n}-hash",
        chunks=n + 1,
        bytes=1000 * (n + 1),
        source=None if n == 0 else f"{collection}/file-{n}.md",
        metadata={} if n % 2 else {"lang": "en", "tags": ["a", "b"], "weight": 1.5},
        ingested_at=1700001000.0 + n + 0.25,
    )


def write_registry(path: Path) -> dict[str, list[DocumentRecord]]:
    """A JSON registry with three collections, written through JsonRegistry itself."""
    docs = {name: [document(name, n) for n in range(SIZES[name])] for name in COLLECTIONS}

    async def build() -> None:
        registry = JsonRegistry(path)
        await registry.open()
        for name, record in COLLECTIONS.items():
            await registry.add_collection(record)
            await registry.put_documents(name, docs[name])

    asyncio.run(build())
    return docs


def section(i: int) -> str:
    return "" if i == 0 else f"Part {i}"


def chunk_text(doc_id: str, i: int) -> str:
    return f"chunk {i} of {doc_id}"


def chunk(collection: str, doc: DocumentRecord, i: int) -> Point:
    """The point the ingestor writes for chunk `i` of `doc`."""
    dim = COLLECTIONS[collection].dimension
    payload = {
        "document_id": doc.id,
        "title": doc.title,
        "text": chunk_text(doc.id, i),
        "section": section(i),
        "chunk_index": i,
        "source": doc.source,
        "content_hash": doc.content_hash,
        "metadata": doc.metadata,
    }
    return Point(point_id(collection, doc.id, doc.content_hash, i), [float(j == i % dim) for j in range(dim)], payload)


def write_points(
    path: Path, docs: Mapping[str, list[DocumentRecord]], *, leave_out: Mapping[str, Collection[int]] | None = None
) -> None:
    """The Qdrant points of `docs` (minus the chunk indexes `leave_out` names per document id), as
    the ingestor leaves them, plus some it would ignore: an older version's, an unknown document's."""
    leave_out = leave_out or {}

    async def build() -> None:
        store = VectorStore(path=path)
        await store.open()
        try:
            for name, records in docs.items():
                if not await store.collection_exists(name):
                    await store.create_collection(name, COLLECTIONS[name].dimension)
                noise = [replace(records[1], content_hash="old-hash"), replace(records[0], id="unknown.md")]
                await store.upsert(
                    name,
                    [chunk(name, d, i) for d in records for i in range(d.chunks) if i not in leave_out.get(d.id, ())]
                    + [chunk(name, d, i) for d in noise for i in range(2)],
                )
        finally:
            await store.close()

    asyncio.run(build())


def write_data(settings: Settings) -> dict[str, list[DocumentRecord]]:
    """A data dir as ragplane leaves it: the JSON registry and the Qdrant points of its documents."""
    docs = write_registry(settings.registry_path)
    write_points(settings.qdrant_path, docs)
    return docs


def chunk_rows_in(url: str) -> list[tuple[object, ...]]:
    rows = asyncio.run(
        fetch(
            url,
            "SELECT collection, document_id, chunk_index, point_id::text, section, text FROM chunks ORDER BY 1, 2, 3",
        )
    )
    return [tuple(r) for r in rows]


def db_rows(url: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    collections = asyncio.run(fetch(url, "SELECT * FROM collections ORDER BY name"))
    documents = asyncio.run(fetch(url, "SELECT * FROM documents ORDER BY collection, id"))
    return [dict(r) for r in collections], [{**r, "metadata": json.loads(r["metadata"])} for r in documents]


def execute(url: str, sql: str, *args: object) -> None:
    asyncio.run(fetch(url, sql, *args))


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def migrate(
    settings_factory: SettingsFactory,
    url: str,
    registry: Path | None = None,
    *,
    dry_run: bool = False,
    skip_chunks: bool = False,
    **env: str,
) -> tuple[int, Lines]:
    """`run()` as the CLI calls it, with the printed lines collected."""
    lines = Lines()
    settings = settings_factory(DATABASE_URL=url, **env)
    code = run(settings, registry, dry_run=dry_run, say=lines, progress=False, skip_chunks=skip_chunks)
    return code, lines


def test_migrates_three_collections_and_the_rows_equal_the_json(
    make_settings: SettingsFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_data(make_settings())  # the default registry path: no --registry
    monkeypatch.setattr(chunk_rows, "PAGE", 4)  # several pages of points, one insert each

    code, lines = migrate(make_settings, database_url)

    assert code == 0, lines
    assert lines == [
        f"3 collections, {TOTAL} documents: 3 created, {TOTAL} inserted, 0 already there; "
        f"{TOTAL_CHUNKS} chunk rows from Qdrant",
        f"integrity check: JSON and PostgreSQL agree (3 collections, {TOTAL} documents, {TOTAL_CHUNKS} chunk rows, "
        "checksums equal)",
    ]
    collections, documents = db_rows(database_url)
    assert [{**r, "created_at": r["created_at"].timestamp()} for r in collections] == [
        COLLECTIONS[name].to_json() for name in sorted(COLLECTIONS)
    ]
    expected = sorted(
        ({"collection": c, **d.to_json()} for c in docs for d in docs[c]), key=lambda r: (r["collection"], r["id"])
    )
    assert [{**r, "ingested_at": r["ingested_at"].timestamp()} for r in documents] == expected
    # Rebuilt from the points of each document's version; older versions and unknown documents are ignored.
    assert chunk_rows_in(database_url) == sorted(
        (c, d.id, i, point_id(c, d.id, d.content_hash, i), section(i), chunk_text(d.id, i))
        for c in docs
        for d in docs[c]
        for i in range(d.chunks)
    )


def test_a_rerun_inserts_nothing_and_still_agrees(make_settings: SettingsFactory, database_url: str) -> None:
    settings = make_settings()
    write_data(settings)
    assert migrate(make_settings, database_url)[0] == 0
    rows, chunks = db_rows(database_url), chunk_rows_in(database_url)
    running = VectorStore(path=settings.qdrant_path)  # a running ragplane: the rerun needs no Qdrant
    asyncio.run(running.open())
    try:
        code, lines = migrate(make_settings, database_url)
    finally:
        asyncio.run(running.close())

    assert code == 0, lines
    assert lines[0] == (
        f"3 collections, {TOTAL} documents: 0 created, 0 inserted, {TOTAL} already there; 0 chunk rows from Qdrant"
    )
    assert f"{TOTAL_CHUNKS} chunk rows, checksums equal" in lines[1]
    assert db_rows(database_url) == rows
    assert chunk_rows_in(database_url) == chunks


def test_a_dry_run_writes_nothing_and_predicts_the_run(make_settings: SettingsFactory, database_url: str) -> None:
    write_registry(make_settings().registry_path)

    code, lines = migrate(make_settings, database_url, dry_run=True)

    assert code == 0, lines
    assert lines == [
        f"dry run, nothing written: 3 collections, {TOTAL} documents: 3 would be created, "
        f"{TOTAL} would be inserted, 0 already there; chunk rows not read (a real run fills them from Qdrant)",
        "integrity check after a real run: JSON and PostgreSQL would agree "
        f"(3 collections, {TOTAL} documents, checksums equal)",
    ]
    assert db_rows(database_url) == ([], [])


def test_a_changed_row_is_reported_and_never_overwritten(make_settings: SettingsFactory, database_url: str) -> None:
    write_data(make_settings())
    assert migrate(make_settings, database_url)[0] == 0
    execute(database_url, "UPDATE documents SET content_hash = 'x' WHERE collection = 'docs' AND id = 'docs/file-2.md'")
    execute(database_url, "UPDATE collections SET description = 'edited' WHERE name = 'runbooks'")

    code, lines = migrate(make_settings, database_url)

    assert code == 1
    assert lines[0] == (
        f"3 collections, {TOTAL} documents: 0 created, 0 inserted, {TOTAL} already there; 0 chunk rows from Qdrant"
    )
    assert lines[1] == "integrity check: 3 differences between JSON (source) and PostgreSQL"
    assert lines[2].startswith("  collection docs: checksum ")
    assert lines[3:] == [
        "  docs/docs/file-2.md: content_hash 'docs-2-hash' (json) != 'x' (db)",
        "  collection runbooks: description '' (json) != 'edited' (db)",
    ]
    row = asyncio.run(fetch(database_url, "SELECT content_hash FROM documents WHERE id = 'docs/file-2.md'"))
    assert row[0]["content_hash"] == "x"
    dry_code, dry_lines = migrate(make_settings, database_url, dry_run=True)
    assert dry_code == 1
    assert dry_lines[1] == "integrity check after a real run: 3 differences between JSON (source) and PostgreSQL"


def test_newer_rows_in_the_db_are_kept_and_the_rest_is_inserted(
    make_settings: SettingsFactory, database_url: str
) -> None:
    write_data(make_settings())
    newer = DocumentRecord("docs/file-0.md", "Rewritten", "newer-hash", 9, 9)

    async def prepare() -> None:
        db = PostgresRegistry(database_url, pool_size=1, timeout_s=5, migrate_on_start=False)
        await db.add_collection(COLLECTIONS["docs"])
        await db.put_documents("docs", [newer])
        # Another embedder: documents embedded for the JSON's collection do not belong here.
        await db.add_collection(CollectionRecord("notes", "local:other", 384))
        await db.add_collection(CollectionRecord("extra", "local:m", 3))
        await db.put_documents("extra", [newer])
        await db.close()

    asyncio.run(prepare())

    code, lines = migrate(make_settings, database_url)

    assert code == 1
    notes = SIZES["notes"]
    filled = CHUNKS["docs"] - 1 + CHUNKS["runbooks"]  # not docs/file-0.md: Qdrant has no points of its newer version
    assert lines[0] == (
        f"3 collections, {TOTAL} documents: 1 created, {TOTAL - 1 - notes} inserted, 1 already there, "
        f"{notes} held back (their collection has another embedder or dimension in the db); "
        f"{filled} chunk rows from Qdrant"
    )
    assert "  docs/docs/file-0.md: title 'File 0 of docs' (json) != 'Rewritten' (db)" in lines
    assert f"  collection docs: {CHUNKS['docs'] - 1} chunk rows in db, {CHUNKS['docs'] - 1 + 9} expected" in lines
    assert "  docs/docs/file-0.md: 0 chunk rows in db, 9 expected" in lines
    assert not any(line.startswith("  notes/") and "chunk rows" in line for line in lines)  # held back: left alone
    assert "  collection notes: embedder 'ollama:nomic-embed-text' (json) != 'local:other' (db)" in lines
    assert "  collection notes: dimension 768 (json) != 384 (db)" in lines
    assert "  notes/notes/file-0.md: missing in db" in lines
    assert lines[-2:] == ["in PostgreSQL only (kept; not an error): 1", "  collection extra: in db only"]
    assert "  extra/docs/file-0.md: in db only" not in lines  # a DB-only collection is one line, not its documents
    title = asyncio.run(
        fetch(database_url, "SELECT title FROM documents WHERE collection = 'docs' AND id = $1", newer.id)
    )
    assert title[0]["title"] == "Rewritten"
    assert (
        asyncio.run(fetch(database_url, "SELECT count(*) AS n FROM documents WHERE collection = 'notes'"))[0]["n"] == 0
    )


def test_documents_only_in_the_db_are_information_not_errors(make_settings: SettingsFactory, database_url: str) -> None:
    write_data(make_settings())
    assert migrate(make_settings, database_url)[0] == 0

    async def add() -> None:
        db = PostgresRegistry(database_url, pool_size=1, timeout_s=5, migrate_on_start=False)
        await db.put_documents("docs", [DocumentRecord("later.md", "Later", "h", 1, 1)])
        await db.close()

    asyncio.run(add())

    code, lines = migrate(make_settings, database_url)

    assert code == 0, lines
    assert lines[1].startswith("integrity check: JSON and PostgreSQL agree")
    assert lines[2:] == ["in PostgreSQL only (kept; not an error): 1", "  docs/later.md: in db only"]


def test_a_missing_or_unreadable_registry_is_a_clear_error(
    make_settings: SettingsFactory, database_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.json"
    code, lines = migrate(make_settings, database_url, missing)
    assert code == 1
    assert lines == [f"ragplane: no JSON registry at {missing}: nothing to migrate (give its path with --registry)"]

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, lines = migrate(make_settings, database_url, broken)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"ragplane: cannot read the registry {broken}")
    assert db_rows(database_url) == ([], [])


def test_without_database_url_it_exits_2(make_settings: SettingsFactory) -> None:
    lines = Lines()
    assert run(make_settings(), None, dry_run=False, say=lines) == 2
    assert lines == ["ragplane: DATABASE_URL is not set: there is no database to migrate the JSON registry into"]


def test_an_unreachable_database_is_one_line_and_exit_1(make_settings: SettingsFactory) -> None:
    write_registry(make_settings().registry_path)
    code, lines = migrate(make_settings, "postgresql://postgres:secret@127.0.0.1:1/ragplane")
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(
        "ragplane: cannot reach postgresql://***@127.0.0.1:1/ragplane: cannot reach the database"
    )
    assert "secret" not in lines[0]


def test_a_database_behind_on_migrations_is_refused(make_settings: SettingsFactory) -> None:
    write_registry(make_settings().registry_path)
    with temporary_database(migrated=False) as url:
        code, lines = migrate(make_settings, url)
    assert code == 1
    assert len(lines) == 1 and "ragplane migrate" in lines[0]


def test_migrate_json_returns_the_report(make_settings: SettingsFactory, database_url: str) -> None:
    settings = make_settings()
    path = settings.registry_path
    docs = write_data(settings)

    async def scenario() -> None:
        db = PostgresRegistry(database_url, pool_size=1, timeout_s=5, migrate_on_start=False)
        try:
            report = await migrate_json(  # no TTY here: the bars stay off
                path, db, dry_run=False, progress=True, chunks_from=partial(chunk_rows.qdrant, settings)
            )
            assert (report.collections, report.documents, report.created, report.inserted) == (3, TOTAL, 3, TOTAL)
            assert (report.chunk_step, report.chunk_rows_inserted, report.chunk_rows) == (
                "filled",
                TOTAL_CHUNKS,
                TOTAL_CHUNKS,
            )
            assert report.intact and report.db_only == [] and report.chunk_problems == []
            stored = await db.documents("docs")
            assert checksum(stored) == checksum({d.id: d for d in docs["docs"]})
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_collection_created_meanwhile_is_used_not_replaced(make_settings: SettingsFactory, database_url: str) -> None:
    path = make_settings().registry_path
    write_registry(path)

    class Stale(PostgresRegistry):
        """Its first read misses the collections a service created just after it."""

        reads = 0

        async def export(self) -> Snapshot:
            self.reads += 1
            return Snapshot.empty() if self.reads == 1 else await super().export()

    async def scenario() -> Report:
        db = Stale(database_url, pool_size=1, timeout_s=5, migrate_on_start=False)
        try:
            await db.add_collection(replace(COLLECTIONS["docs"], description="made by the service"))
            return await migrate_json(path, db, dry_run=False, progress=False)
        finally:
            await db.close()

    report = asyncio.run(scenario())

    assert (report.created, report.inserted) == (2, TOTAL)
    assert report.differences == ["collection docs: description 'the docs' (json) != 'made by the service' (db)"]


def test_compare_reports_a_missing_collection_and_summary_shortens_long_lists() -> None:
    docs = {f"d{n}": document("c", n) for n in range(3)}
    source = Snapshot({"c": COLLECTIONS["docs"], "gone": COLLECTIONS["notes"]}, {"c": docs, "gone": {}}, {})
    db = Snapshot({"c": COLLECTIONS["docs"]}, {"c": {"d0": docs["d0"], "d1": replace(docs["d1"], chunks=7)}}, {})

    differences, db_only = compare(source, db)

    assert differences[:3] == [
        "collection c: 3 documents (json) != 2 (db)",
        "collection c: 6 chunks (json) != 8 (db)",
        differences[2],
    ]
    assert differences[3:] == [
        "c/d1: chunks 2 (json) != 7 (db)",
        "c/d2: missing in db",
        "collection gone: missing in db (0 documents)",
    ]
    assert db_only == []
    report = Report(dry_run=False, differences=differences, db_only=[f"x/{n}: in db only" for n in range(25)])
    lines = summary(report)
    assert lines[-1] == "  ... and 5 more"
    assert lines[-22] == "in PostgreSQL only (kept; not an error): 25"


def test_a_database_that_does_not_exist_is_one_line_and_exit_1(make_settings: SettingsFactory) -> None:
    write_registry(make_settings().registry_path)
    code, lines = migrate(make_settings, "postgresql://postgres@127.0.0.1:5432/rp_test_no_such_database")
    assert code == 1
    assert lines == [  # since 2a87d40 every failure to connect is DependencyUnavailable
        "ragplane: cannot reach postgresql://***@127.0.0.1:5432/rp_test_no_such_database: "
        'cannot connect to the database: database "rp_test_no_such_database" does not exist'
    ]


def test_missing_points_leave_chunk_rows_missing_and_a_rerun_fills_them(
    make_settings: SettingsFactory, database_url: str
) -> None:
    settings = make_settings()
    docs = write_registry(settings.registry_path)
    gone = {"docs/file-2.md": range(3), "docs/file-4.md": [1]}
    write_points(settings.qdrant_path, {"docs": docs["docs"], "notes": docs["notes"]}, leave_out=gone)

    code, lines = migrate(make_settings, database_url)

    assert code == 1
    expected = CHUNKS["docs"] - 4 + CHUNKS["notes"]
    assert lines == [
        f"3 collections, {TOTAL} documents: 3 created, {TOTAL} inserted, 0 already there; "
        f"{expected} chunk rows from Qdrant",
        f"chunks: no collection runbooks in Qdrant at {settings.qdrant_path}",
        f"integrity check: {4 + SIZES['runbooks']} differences between JSON (source) and PostgreSQL",
        f"  collection docs: {CHUNKS['docs'] - 4} chunk rows in db, {CHUNKS['docs']} expected",
        "  docs/docs/file-2.md: 0 chunk rows in db, 3 expected",
        "  docs/docs/file-4.md: 4 chunk rows in db, 5 expected",
        f"  collection runbooks: 0 chunk rows in db, {CHUNKS['runbooks']} expected",
        *(f"  runbooks/runbooks/file-{n}.md: 0 chunk rows in db, {n + 1} expected" for n in range(SIZES["runbooks"])),
    ]

    write_points(settings.qdrant_path, docs)  # the points are back (e.g. a Qdrant snapshot restored)
    code, lines = migrate(make_settings, database_url)

    assert code == 0, lines
    assert lines[0].endswith(f"; {TOTAL_CHUNKS - expected} chunk rows from Qdrant")
    assert f"{TOTAL_CHUNKS} chunk rows, checksums equal" in lines[1]
    assert len(chunk_rows_in(database_url)) == TOTAL_CHUNKS


def test_skip_chunks_leaves_qdrant_alone_and_lists_the_rows_for_information(
    make_settings: SettingsFactory, database_url: str
) -> None:
    settings = make_settings()
    write_registry(settings.registry_path)  # and no Qdrant data at all

    code, lines = migrate(make_settings, database_url)
    assert code == 1
    assert lines[1] == (f"chunks: no Qdrant data at {settings.qdrant_path} (set RAGPLANE_DATA_DIR, or QDRANT_URLS)")
    assert not settings.qdrant_path.exists()  # looked for, not created

    code, lines = migrate(make_settings, database_url, skip_chunks=True)

    assert code == 0, lines
    assert lines[:4] == [
        f"3 collections, {TOTAL} documents: 0 created, 0 inserted, {TOTAL} already there; "
        "chunk rows skipped (--skip-chunks)",
        f"integrity check: JSON and PostgreSQL agree (3 collections, {TOTAL} documents, checksums equal)",
        f"chunk rows not filled (--skip-chunks; for information, not an error): {3 + TOTAL}",
        f"  collection docs: 0 chunk rows in db, {CHUNKS['docs']} expected",
    ]
    assert "  notes/notes/file-2.md: 0 chunk rows in db, 3 expected" in lines
    assert chunk_rows_in(database_url) == []


def test_a_qdrant_directory_in_use_is_a_clear_failure_of_the_chunk_step(
    make_settings: SettingsFactory, database_url: str
) -> None:
    settings = make_settings()
    write_data(settings)
    running = VectorStore(path=settings.qdrant_path)  # what a running ragplane holds
    asyncio.run(running.open())
    try:
        code, lines = migrate(make_settings, database_url)
        skipped, skipped_lines = migrate(make_settings, database_url, skip_chunks=True)
    finally:
        asyncio.run(running.close())

    assert code == 1
    assert lines[:3] == [
        f"3 collections, {TOTAL} documents: 3 created, {TOTAL} inserted, 0 already there; 0 chunk rows from Qdrant",
        f"chunks: cannot open Qdrant at {settings.qdrant_path} "
        "(a running ragplane uses it: stop it, or use QDRANT_URLS)",
        f"integrity check: {3 + TOTAL} differences between JSON (source) and PostgreSQL",
    ]
    assert db_rows(database_url)[1] != []  # the documents moved all the same
    assert skipped == 0, skipped_lines
    assert "for information, not an error" in skipped_lines[2]
    assert migrate(make_settings, database_url)[0] == 0  # once it is stopped, a rerun fills the rows


def test_an_unreachable_qdrant_server_is_a_failure_of_the_chunk_step(
    make_settings: SettingsFactory, database_url: str
) -> None:
    write_registry(make_settings().registry_path)

    code, lines = migrate(make_settings, database_url, QDRANT_URLS="http://127.0.0.1:9")

    assert code == 1
    assert lines[1].startswith("chunks: cannot read Qdrant at http://127.0.0.1:9: cannot reach the server")
