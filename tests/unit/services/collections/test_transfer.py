import asyncio
import json
from dataclasses import replace
from pathlib import Path

from ragplane.services.collections.models import CollectionRecord, DocumentRecord
from ragplane.services.collections.pgregistry import PostgresRegistry
from ragplane.services.collections.registry import JsonRegistry, Snapshot
from ragplane.services.collections.transfer import Report, checksum, compare, migrate_json, run, summary
from tests.conftest import SettingsFactory
from tests.pg import fetch, temporary_database

COLLECTIONS = {
    "docs": CollectionRecord("docs", "local:all-MiniLM-L6-v2", 384, "the docs", created_at=1700000000.125),
    "runbooks": CollectionRecord("runbooks", "local:all-MiniLM-L6-v2", 384, chunk_size=400, created_at=1700000100.5),
    "notes": CollectionRecord("notes", "ollama:nomic-embed-text", 768, "", 1000, 0, created_at=1700000200.0),
}
SIZES = {"docs": 6, "runbooks": 4, "notes": 3}
TOTAL = sum(SIZES.values())


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
    settings_factory: SettingsFactory, url: str, registry: Path | None = None, *, dry_run: bool = False
) -> tuple[int, Lines]:
    """`run()` as the CLI calls it, with the printed lines collected."""
    lines = Lines()
    code = run(settings_factory(DATABASE_URL=url), registry, dry_run=dry_run, say=lines, progress=False)
    return code, lines


def test_migrates_three_collections_and_the_rows_equal_the_json(
    make_settings: SettingsFactory, database_url: str
) -> None:
    docs = write_registry(make_settings().registry_path)  # the default path: no --registry

    code, lines = migrate(make_settings, database_url)

    assert code == 0, lines
    assert lines == [
        f"3 collections, {TOTAL} documents: 3 created, {TOTAL} inserted, 0 already there",
        f"integrity check: JSON and PostgreSQL agree (3 collections, {TOTAL} documents, checksums equal)",
    ]
    collections, documents = db_rows(database_url)
    assert [{**r, "created_at": r["created_at"].timestamp()} for r in collections] == [
        COLLECTIONS[name].to_json() for name in sorted(COLLECTIONS)
    ]
    expected = sorted(
        ({"collection": c, **d.to_json()} for c in docs for d in docs[c]), key=lambda r: (r["collection"], r["id"])
    )
    assert [{**r, "ingested_at": r["ingested_at"].timestamp()} for r in documents] == expected
    assert asyncio.run(fetch(database_url, "SELECT count(*) AS n FROM chunks"))[0]["n"] == 0  # not in the JSON file


def test_a_rerun_inserts_nothing_and_still_agrees(make_settings: SettingsFactory, database_url: str) -> None:
    write_registry(make_settings().registry_path)
    assert migrate(make_settings, database_url)[0] == 0
    rows = db_rows(database_url)

    code, lines = migrate(make_settings, database_url)

    assert code == 0, lines
    assert lines[0] == f"3 collections, {TOTAL} documents: 0 created, 0 inserted, {TOTAL} already there"
    assert "agree" in lines[1]
    assert db_rows(database_url) == rows


def test_a_dry_run_writes_nothing_and_predicts_the_run(make_settings: SettingsFactory, database_url: str) -> None:
    write_registry(make_settings().registry_path)

    code, lines = migrate(make_settings, database_url, dry_run=True)

    assert code == 0, lines
    assert lines == [
        f"dry run, nothing written: 3 collections, {TOTAL} documents: 3 would be created, "
        f"{TOTAL} would be inserted, 0 already there",
        "integrity check after a real run: JSON and PostgreSQL would agree "
        f"(3 collections, {TOTAL} documents, checksums equal)",
    ]
    assert db_rows(database_url) == ([], [])


def test_a_changed_row_is_reported_and_never_overwritten(make_settings: SettingsFactory, database_url: str) -> None:
    write_registry(make_settings().registry_path)
    assert migrate(make_settings, database_url)[0] == 0
    execute(database_url, "UPDATE documents SET content_hash = 'x' WHERE collection = 'docs' AND id = 'docs/file-2.md'")
    execute(database_url, "UPDATE collections SET description = 'edited' WHERE name = 'runbooks'")

    code, lines = migrate(make_settings, database_url)

    assert code == 1
    assert lines[0] == f"3 collections, {TOTAL} documents: 0 created, 0 inserted, {TOTAL} already there"
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
    write_registry(make_settings().registry_path)
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
    assert lines[0] == (
        f"3 collections, {TOTAL} documents: 1 created, {TOTAL - 1 - notes} inserted, 1 already there, "
        f"{notes} held back (their collection has another embedder or dimension in the db)"
    )
    assert "  docs/docs/file-0.md: title 'File 0 of docs' (json) != 'Rewritten' (db)" in lines
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
    write_registry(make_settings().registry_path)
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
    path = make_settings().registry_path
    docs = write_registry(path)

    async def scenario() -> None:
        db = PostgresRegistry(database_url, pool_size=1, timeout_s=5, migrate_on_start=False)
        try:
            report = await migrate_json(path, db, dry_run=False, progress=True)  # no TTY here: the bar stays off
            assert (report.collections, report.documents, report.created, report.inserted) == (3, TOTAL, 3, TOTAL)
            assert report.intact and report.db_only == []
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
    assert lines == [
        "ragplane: cannot migrate into postgresql://***@127.0.0.1:5432/rp_test_no_such_database: "
        'database "rp_test_no_such_database" does not exist'
    ]
