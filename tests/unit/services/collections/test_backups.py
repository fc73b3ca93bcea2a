"""Backups and restores against the real embedded vector store and JSON registry: an archive
restores to the same collection, a damaged one is refused with nothing changed, a restore over
an existing collection replaces it only with a verified copy, retention keeps the newest."""

from __future__ import annotations

import asyncio
import gzip
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragplane.adapters.store_engine import Point
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import ArchiveInvalid, CollectionExists, CollectionNotFound
from ragplane.lexical import document_vector
from ragplane.services.collections import archive
from ragplane.services.collections.backups import Backups
from ragplane.services.collections.models import CollectionRecord, DocumentRecord
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.telemetry.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio

DIM = 8
DOCS = ("breakers", "backups", "plans")


def vector(seed: int) -> list[float]:
    return [((seed * 7 + i * 3) % 11) / 10 + 0.05 for i in range(DIM)]


def points(doc: str, n: int) -> list[Point]:
    return [
        Point(
            id=f"00000000-0000-0000-{DOCS.index(doc):04d}-{i:012d}",
            vector=vector(DOCS.index(doc) * 10 + i),
            payload={"document_id": doc, "chunk_index": i, "section": doc.title(), "text": f"{doc} chunk {i}"},
            sparse=document_vector(f"{doc} chunk {i}"),
        )
        for i in range(n)
    ]


def backups_of(parts: tuple[VectorStore, JsonRegistry], folder: Path) -> Backups:
    store, registry = parts
    return Backups(registry, store, folder, retention_days=7, changes=asyncio.Lock(), metrics=ServiceMetrics("c"))


@pytest.fixture
async def backups(parts: tuple[VectorStore, JsonRegistry], tmp_path: Path) -> Backups:
    await fill(*parts, "docs")
    return backups_of(parts, tmp_path / "backups")


async def fill(store: VectorStore, registry: JsonRegistry, name: str) -> None:
    await store.create_collection(name, DIM)
    await registry.add_collection(CollectionRecord(name=name, embedder="test", dimension=DIM, chunk_size=500))
    for doc in DOCS:
        await store.upsert(name, points(doc, 4))
    records = [DocumentRecord(id=d, title=d.title(), content_hash=f"h-{d}", chunks=4, bytes=100) for d in DOCS]
    await registry.put_documents(name, records)


async def snapshot(b: Backups, name: str) -> tuple[dict[str, list[float]], dict[str, str], CollectionRecord | None]:
    read = {p.id: p.vector async for page in b.store.point_pages(name) for p in page}
    docs = {d.id: d.content_hash for d in (await b.registry.documents(name)).values()}
    return read, docs, await b.registry.get_collection(name)


async def test_a_deleted_collection_comes_back_the_same_from_its_archive(backups: Backups) -> None:
    before = await snapshot(backups, "docs")
    made = await backups.create("docs")
    assert made["collection"] == "docs" and made["status"] == "ok" and made["size_bytes"] > 0
    await backups.store.delete_collection("docs")
    await backups.registry.remove_collection("docs")

    report = await backups.restore("docs")
    assert report == {"collection": "docs", "archive": made["archive"], "points": 12, "replaced": False}
    vectors, docs, record = await snapshot(backups, "docs")
    assert docs == before[1] and record is not None and record.chunk_size == 500
    assert vectors.keys() == before[0].keys()
    top = [h.id for h in await backups.store.search("docs", vector(3), 5)]
    assert top[0] == points("breakers", 4)[3].id


async def test_restoring_as_a_new_name_leaves_the_original_alone(backups: Backups) -> None:
    await backups.create("docs")
    report = await backups.restore("docs", new_name="docs-copy")
    assert report["collection"] == "docs-copy" and not report["replaced"]
    assert (await snapshot(backups, "docs-copy"))[0].keys() == (await snapshot(backups, "docs"))[0].keys()
    with pytest.raises(CollectionExists):
        await backups.restore("docs", new_name="docs-copy")


async def test_a_restore_over_a_collection_replaces_it_with_the_archived_content(backups: Backups) -> None:
    await backups.create("docs")
    await backups.store.upsert("docs", points("plans", 6))  # changed since the backup: two more points
    report = await backups.restore("docs")
    assert report["replaced"] and report["points"] == 12
    assert await backups.store.count("docs") == 12
    assert [c.name for c in await backups.registry.list_collections()] == ["docs"]  # no staging left behind


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "no checksum file", "points removed"])
async def test_a_damaged_archive_is_refused_and_nothing_changes(backups: Backups, damage: str) -> None:
    made = await backups.create("docs")
    path = backups.folder / "docs" / made["archive"]
    data = bytearray(path.read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(data)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "no checksum file":
        archive.sidecar(path).unlink()
    else:  # a consistent-looking archive whose points do not match its manifest
        raw = gzip.decompress(data).replace(b'"breakers chunk 1"', b'"breakers chunk X"')
        path.write_bytes(gzip.compress(raw))
        archive.sidecar(path).write_text(f"{archive.sha256_of(path)}  {path.name}\n")
    before = await snapshot(backups, "docs")
    with pytest.raises(ArchiveInvalid) as refused:
        await backups.restore("docs")
    assert path.name in str(refused.value) or "missing" in str(refused.value)
    assert await snapshot(backups, "docs") == before


async def test_a_missing_collection_or_archive_is_said_so(backups: Backups) -> None:
    with pytest.raises(CollectionNotFound):
        await backups.create("nothing")
    with pytest.raises(ArchiveInvalid, match="no archive of docs"):
        await backups.restore("docs")


async def test_retention_prunes_old_archives_but_keeps_the_newest_good_one(backups: Backups) -> None:
    first = await backups.create("docs")
    second = await backups.create("docs")
    old = time.time() - timedelta(days=30).total_seconds()
    for made in (first, second):
        os.utime(backups.folder / "docs" / made["archive"], (old, old))
    assert backups.prune("docs") == [first["archive"]]  # the newest good one stays, however old
    assert [a.name for a in backups.archives("docs")] == [second["archive"]]
    backups.clock = lambda: datetime.now(UTC) + timedelta(days=60)
    assert backups.prune("docs") == []


async def test_a_backup_and_a_restore_say_how_far_they_are_while_they_run(
    backups: Backups, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `running` says at each page: the listing route shows it, the command line draws it."""
    monkeypatch.setattr("ragplane.services.collections.backups.PAGE", 4)
    seen: list[list[dict[str, object]]] = []
    loading: list[list[dict[str, object]]] = []
    store = backups.store

    class Watched:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def upsert(self, name: str, points: list[Point]) -> None:
            loading.append(backups.running)
            await store.upsert(name, points)

        def point_pages(self, name: str, *, page: int = 256):  # type: ignore[no-untyped-def]
            async def pages():  # type: ignore[no-untyped-def]
                async for found in store.point_pages(name, page=page):
                    seen.append(backups.running)
                    yield found

            return pages()

    backups.store = Watched()  # type: ignore[assignment]
    total = len(DOCS) * 4
    await backups.create("docs")
    during = [s for s in seen if s]
    assert [s[0]["points"] for s in during] == list(range(0, total, 4))
    assert {(s[0]["action"], s[0]["collection"], s[0]["total"]) for s in during} == {("backup", "docs", total)}
    assert backups.running == []

    await backups.restore("docs")  # over the collection: loaded into staging, then into place
    assert [s[0]["points"] for s in loading] == list(range(0, 2 * total, 4))
    assert {(s[0]["action"], s[0]["collection"], s[0]["total"]) for s in loading} == {("restore", "docs", 2 * total)}
    assert backups.running == []
