"""Backups of collections, and restores that are verified before they replace anything.

`create` writes one archive (`archive.py`) per collection into `BACKUP_DIR/<collection>/`:
its points read whole from the vector store, its registry rows, and a manifest with a
content checksum and sample queries (a few points' own vectors, with the ids they find), then
prunes archives older than `BACKUP_RETENTION_DAYS`, never the newest good one.

`restore` checks the archive first (its SHA-256, then every point against the manifest) and
loads it where nobody reads yet: straight into the new name (`as`), whose registry row is
written only once the copy checks out; or, replacing a collection, into a staging collection
first, so the old data stays until a verified copy exists. A copy checks out when the store
holds the manifest's point count and checksum and each sample query finds its ids again.

While one runs, `running` says how far it is (points written or loaded, of how many), for the
listing route and the command line's progress bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ragplane.adapters.store_engine import Point
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import ArchiveInvalid, CollectionExists, CollectionNotFound, RestoreFailed
from ragplane.services.collections import archive
from ragplane.services.collections.backup_journal import BackupJournal
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord
from ragplane.services.collections.registry import Registry
from ragplane.telemetry.metrics import ServiceMetrics

SAMPLES = 5  # sample queries per archive
SAMPLE_TOP = 5  # ids each sample query keeps
PAGE = 256

log = logging.getLogger("ragplane.backups")


@dataclass
class Task:
    """A backup or restore under way: points done of `total`."""

    action: str  # backup | restore
    collection: str
    total: int
    points: int = 0


def _chunks(points: list[Point]) -> dict[str, list[ChunkRecord]]:
    """The registry's chunk rows, rebuilt from the points' payloads (what ingestion wrote them from)."""
    out: dict[str, list[ChunkRecord]] = {}
    for p in points:
        doc = str(p.payload.get("document_id", ""))
        row = ChunkRecord(
            document_id=doc,
            index=int(p.payload.get("chunk_index", 0)),
            point_id=p.id,
            section=str(p.payload.get("section", "")),
            text=str(p.payload.get("text", "")),
        )
        out.setdefault(doc, []).append(row)
    return out


def _same_ranking(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> bool:
    """The same scores, and the same points above the last one: points tied at the cut may
    come in any order, and either of two tied points may be the one cut off."""
    if [s for _, s in found] != [s for _, s in expected]:
        return False
    last = expected[-1][1] if expected else 0.0
    return {i for i, s in found if s > last} == {i for i, s in expected if s > last}


class Backups:
    def __init__(
        self,
        registry: Registry,
        store: VectorStore,
        folder: Path,
        *,
        retention_days: int,
        changes: asyncio.Lock,
        metrics: ServiceMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.store = store
        self.folder = folder
        self.retention = timedelta(days=retention_days)
        self.changes = changes  # the API's lock: no create or delete of a collection meanwhile
        self.journal = BackupJournal(folder, metrics)
        self.clock = clock
        self._published: set[str] = set()
        self._running: dict[tuple[str, str], Task] = {}

    @property
    def running(self) -> list[dict[str, Any]]:
        return [asdict(task) for task in self._running.values()]

    @contextlib.contextmanager
    def _task(self, action: str, collection: str, total: int) -> Iterator[Task]:
        task = self._running[action, collection] = Task(action, collection, total)
        try:
            yield task
        finally:
            del self._running[action, collection]

    def publish_existing(self) -> None:
        """The newest good archive of every collection on disk, as the backup gauges (at start)."""
        for path in self.archives():
            if archive.sidecar(path).is_file() and path.parent.name not in self._published:
                self.journal.publish(path.parent.name, path)
                self._published.add(path.parent.name)

    async def create(self, name: str) -> dict[str, Any]:
        """Back up collection `name`; what was written, as `describe` says it. Every outcome is
        journalled: metrics, BACKUP_DIR/backup.log, the service log."""
        started = time.perf_counter()
        try:
            path = await self._create(name)
        except Exception as exc:
            self.journal.failed(name, exc, time.perf_counter() - started)
            raise
        self.journal.succeeded(name, path, time.perf_counter() - started)
        await asyncio.to_thread(self.prune, name)
        return self.describe(path)

    async def create_all(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Every collection, one failing not stopping the others: what was written, and what failed and why."""
        written, failed = [], []
        for record in await self.registry.list_collections():
            try:
                written.append(await self.create(record.name))
            except Exception as exc:  # journalled by create()
                failed.append({"collection": record.name, "error": str(exc) or type(exc).__name__})
        return written, failed

    async def _create(self, name: str) -> Path:
        record = await self.registry.get_collection(name)
        if record is None:
            raise CollectionNotFound(name)
        documents = [d.to_json() for d in (await self.registry.documents(name)).values()]
        samples = await self._samples(name)
        with self._task("backup", name, await self.store.count(name)) as task:
            path, _ = await archive.write(
                self.folder / name,
                _counted(self.store.point_pages(name, page=PAGE), task),
                record=record.to_json(),
                documents=documents,
                samples=samples,
            )
        return path

    async def _samples(self, name: str) -> list[dict[str, Any]]:
        picks: list[Point] = []
        async for page in self.store.point_pages(name, page=PAGE):
            picks += page[: SAMPLES - len(picks)]
            if len(picks) == SAMPLES:
                break
        return [{"point": p.id, "top": await self._top(name, p.vector)} for p in picks]

    async def _top(self, name: str, vector: list[float]) -> list[tuple[str, float]]:
        return [(h.id, round(h.score, 5)) for h in await self.store.search(name, vector, SAMPLE_TOP)]

    def archives(self, name: str | None = None) -> list[Path]:
        """Archives, newest first (of one collection when `name` is given)."""
        folders = [self.folder / name] if name else [f for f in self.folder.glob("*") if f.is_dir()]
        found = [a for f in folders for a in f.glob(f"*{archive.SUFFIX}") if not a.name.startswith(".")]
        return sorted(found, key=lambda a: a.name.rsplit("-", 1)[-1], reverse=True)

    def describe(self, path: Path) -> dict[str, Any]:
        stat = path.stat()
        created = datetime.fromtimestamp(stat.st_mtime, UTC)
        return {
            "collection": path.parent.name,
            "archive": path.name,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "age_seconds": round((self.clock() - created).total_seconds()),
            "size_bytes": stat.st_size,
            "status": "ok" if archive.sidecar(path).is_file() else "no checksum",
        }

    def prune(self, name: str) -> list[str]:
        """Delete `name`'s archives older than the retention, except the newest good one."""
        good = [a for a in self.archives(name) if archive.sidecar(a).is_file()]
        keep = good[0] if good else None
        cutoff = self.clock() - self.retention
        pruned = []
        for path in self.archives(name):
            if path != keep and datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                path.unlink()
                archive.sidecar(path).unlink(missing_ok=True)
                pruned.append(path.name)
                log.info("pruned backup %s", path.name, extra={"fields": {"event": "backup_pruned"}})
        return pruned

    async def restore(self, name: str, *, source: str | None = None, new_name: str | None = None) -> dict[str, Any]:
        """Restore `name` from `source` (an archive's file name; default its newest) into
        `new_name`, or over `name` itself. ArchiveInvalid, CollectionExists or RestoreFailed
        leave every collection as it was."""
        try:
            report = await self._restore(name, source, new_name)
        except ArchiveInvalid as exc:
            self.journal.restored(name, "refused", str(exc))
            raise
        except Exception as exc:
            self.journal.restored(name, "failed", str(exc) or type(exc).__name__)
            raise
        self.journal.restored(report["collection"], "ok", report["archive"])
        return report

    async def _restore(self, name: str, source: str | None, new_name: str | None) -> dict[str, Any]:
        candidates = self.archives(name)
        path = next((a for a in candidates if a.name == source), None) if source else next(iter(candidates), None)
        if path is None:
            which = f"no archive {source} of {name}" if source else f"no archive of {name}"
            raise ArchiveInvalid(f"{which} in {self.folder}")
        checked = await asyncio.to_thread(archive.verify, path)
        target = new_name or name
        async with self.changes:
            replacing = await self.registry.get_collection(target) is not None
            if replacing and new_name:
                raise CollectionExists(target)
            loads = 2 if replacing else 1  # a replaced collection is loaded twice: into staging, then its own
            with self._task("restore", target, checked.manifest.points * loads) as task:
                if replacing:
                    staging = f"{target[:40]}-restore-{self.clock():%Y%m%d%H%M%S}"
                    await self._load(checked, staging, task)  # verified before the old copy is touched
                    await self.store.delete_collection(target)
                    await self.registry.remove_collection(target)
                try:
                    points = await self._load(checked, target, task)
                except BaseException:
                    if replacing:
                        log.error(
                            "restoring %s failed after its old copy was removed; the verified copy is in %s",
                            target,
                            staging,
                        )
                    raise
            record = CollectionRecord.from_json({**checked.manifest.record, "name": target})
            await self.registry.add_collection(record)
            documents = [DocumentRecord.from_json(d) for d in checked.documents]
            await self.registry.put_documents(target, documents, _chunks(points))
            if replacing:
                await self.store.delete_collection(staging)
        log.warning(
            "restored %s from %s", target, path.name, extra={"fields": {"event": "restore", "collection": target}}
        )
        return {"collection": target, "archive": path.name, "points": len(points), "replaced": replacing}

    async def _load(self, checked: archive.Archive, target: str, task: Task) -> list[Point]:
        """The archive's points in store collection `target`, checked; dropped again if they do not check out."""
        manifest = checked.manifest
        await self.store.create_collection(target, int(manifest.record["dimension"]))  # ours from here on
        loaded: list[Point] = []
        try:
            pages: Iterator[list[Point]] = checked.points(PAGE)
            while page := await asyncio.to_thread(next, pages, list[Point]()):
                await self.store.upsert(target, page)
                loaded += page
                task.points += len(page)
            await self._check(target, manifest, {p.id: p.vector for p in loaded})
        except BaseException:
            await self.store.delete_collection(target)
            raise
        return loaded

    async def _check(self, target: str, manifest: archive.Manifest, vectors: dict[str, list[float]]) -> None:
        checksum = archive.Checksum()
        async for page in self.store.point_pages(target, page=PAGE):
            for point in page:
                checksum.add(point)
        if not checksum.matches(manifest):
            raise RestoreFailed(f"the restored copy holds {checksum.count} points, not the archive's {manifest.points}")
        for sample in manifest.samples:
            found = await self._top(target, vectors[sample["point"]])
            if not _same_ranking(found, [(i, s) for i, s in sample["top"]]):
                raise RestoreFailed(f"a sample query found {found}, not the archive's {sample['top']}")


async def _counted(pages: AsyncIterator[list[Point]], task: Task) -> AsyncIterator[list[Point]]:
    async for page in pages:
        yield page
        task.points += len(page)
