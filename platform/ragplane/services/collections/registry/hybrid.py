"""PostgreSQL as the registry of record, with a JSON snapshot for when it is down.

Reads go to PostgreSQL; when it cannot be reached they are served from a JSON snapshot
of the registry (`ragplane_registry_backend{backend="json"}` = 1, `/health` shows
`degraded (json)`). Writes always go to PostgreSQL first and are acknowledged only once
committed there; while it is down they are refused with 503 and `Retry-After`, so an
acknowledged write is never one the database lacks. After a committed write the same
change is applied to the snapshot (in memory at once; its file follows within a second);
the snapshot is also rebuilt from the database at start, on recovery and on every
maintenance round (which picks up other replicas' writes), so it lags the database by at
most `DATABASE_MAINTENANCE_S`.

A watcher task retries the database every `DATABASE_RETRY_S` while it is down and runs
`maintain()` (partitions, retention, rollups) every `DATABASE_MAINTENANCE_S` while it is up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ragplane.errors import DependencyUnavailable, Kind, RegistryError
from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

T = TypeVar("T")
DEPENDENCY = "registry"
DEGRADED = "degraded (json)"
REFUSED = "PostgreSQL is unavailable; changes are refused until it is back. Reads are served from the JSON snapshot."
CHECK_TIMEOUT_S = 1.5  # under kit.health's 2 s probe timeout
REBUILD_ATTEMPTS = 3

log = logging.getLogger("ragplane.registry")


class HybridRegistry:
    def __init__(
        self,
        db: PostgresRegistry,
        snapshot: JsonRegistry,
        *,
        metrics: ServiceMetrics,
        retry_s: float,
        maintenance_s: float,
        job_retention_days: int = 90,
    ) -> None:
        self.db = db
        self.snapshot = snapshot
        self.retry_s = retry_s
        self.maintenance_s = maintenance_s
        self.job_retention_days = job_retention_days
        self.on_sync: list[Callable[[], Awaitable[None]]] = []  # run after each recovery and upkeep
        self._commits = 0  # writes PostgreSQL has committed, to tell whether an export is stale
        self._snapshot_lock = asyncio.Lock()
        self._down: str | None = None  # why PostgreSQL is unavailable, while it is
        self._down_since = 0.0
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._backend = metrics.gauge(catalog.REGISTRY_BACKEND)
        self._fallbacks = metrics.counter(catalog.REGISTRY_FALLBACK)
        self._fallbacks.labels()
        self._show("postgres")

    @property
    def backend(self) -> str:
        return "json" if self._down else "postgres"

    @property
    def degraded(self) -> bool:
        return self._down is not None

    def _show(self, backend: str) -> None:
        for name in catalog.REGISTRY_BACKENDS:
            self._backend.labels(backend=name).set(1 if name == backend else 0)

    def _fall_back(self, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        if self._down is None:
            self._down_since = time.time()
            self._fallbacks.labels().inc()
            self._show("json")
            log.warning(
                "registry: PostgreSQL is unavailable (%s); serving reads from the JSON snapshot %s, refusing writes",
                reason,
                self.snapshot.path,
                extra={"fields": {"event": "registry_fallback", "reason": reason}},
            )
        self._down = reason
        self._wake.set()

    async def open(self) -> None:
        """Load the snapshot, then PostgreSQL; start degraded (not failed) when it is unreachable."""
        await self.snapshot.open()
        try:
            await self._recover()
        except DependencyUnavailable as exc:
            self._fall_back(exc)
        self._watcher = asyncio.create_task(self._watch(), name="registry-watcher")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.db.close()
        try:
            await self.snapshot.close()
        except RegistryError as exc:  # the database has everything; only the copy is behind
            log.warning("registry: %s", exc)

    async def _rebuild(self) -> None:
        """Make the snapshot a copy of the database, without losing a write that lands meanwhile.

        A write committed after the export read the tables, but applied to the snapshot
        before the export is installed, would be overwritten by it: so the export is
        installed only if no write committed since it began (checked under the lock that
        applying writes holds), else it is read again.
        """
        for _ in range(REBUILD_ATTEMPTS):
            commits = self._commits
            exported = await self.db.export()
            async with self._snapshot_lock:
                if commits == self._commits:
                    await self.snapshot.replace(exported)
                    return
        log.info("registry: writes kept landing while the snapshot was rebuilt; it is rebuilt at the next upkeep")

    async def _sync(self) -> None:
        for callback in self.on_sync:
            try:
                await callback()
            except Exception:
                log.exception("registry: a follow-up after syncing with PostgreSQL failed")

    async def _recover(self) -> None:
        """(Re)open the database, rebuild the snapshot from it, and leave fallback."""
        await self.db.open()
        await self._rebuild()
        if self._down is not None:
            log.info(
                "registry: PostgreSQL is back after %.1f s; serving from it again",
                time.time() - self._down_since,
                extra={"fields": {"event": "registry_recovered"}},
            )
            self._down = None
            self._show("postgres")
        await self._sync()

    async def _watch(self) -> None:
        while True:
            delay = self.retry_s if self._down else self.maintenance_s
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
                await asyncio.sleep(self.retry_s if self._down else 0)  # a burst of failures wakes it once
            except TimeoutError:
                pass
            self._wake.clear()
            if self._down:
                try:
                    await self._recover()
                except DependencyUnavailable as exc:
                    self._fall_back(exc)
                except Exception:
                    log.exception("registry: reconnecting to PostgreSQL failed")
                continue
            try:  # upkeep failing is not an outage: requests decide that, with their own timeout
                await self.maintain()
            except Exception as exc:
                log.warning("registry upkeep failed: %s", str(exc) or type(exc).__name__)

    async def maintain(self) -> None:
        await self.db.maintain(job_retention_days=self.job_retention_days)
        await self._rebuild()
        await self._sync()

    async def _read(self, op: Callable[[Registry], Awaitable[T]]) -> T:
        if self._down is None:
            try:
                return await op(self.db)
            except DependencyUnavailable as exc:
                self._fall_back(exc)
        return await op(self.snapshot)

    def _refusal(self, kind: Kind = "unavailable") -> DependencyUnavailable:
        # A fixed text: the driver's message (hosts, users) goes to the log and /health, not to clients.
        return DependencyUnavailable(DEPENDENCY, REFUSED, kind=kind)

    async def ensure_writable(self) -> None:
        """Refuse a change up front while PostgreSQL is known to be down, before it touches Qdrant."""
        if self._down is not None:
            raise self._refusal()

    async def _write(self, op: Callable[[Registry], Awaitable[T]]) -> T:
        try:
            result = await op(self.db)
        except DependencyUnavailable as exc:
            self._fall_back(exc)
            raise self._refusal(exc.kind) from exc
        self._commits += 1
        if self._down is not None:
            self._wake.set()  # it answered: recover (and rebuild the snapshot) now
        async with self._snapshot_lock:
            try:
                await op(self.snapshot)
            except Exception as exc:  # the database has it; the next upkeep rebuilds the copy
                log.warning("registry: the JSON snapshot missed a change (%s); it is rebuilt at the next upkeep", exc)
        return result

    async def check(self) -> dict[str, Any]:
        """Ready either way: reads work from the snapshot. The details say which backend serves."""
        if self._down is None:
            try:  # within the readiness probe's own timeout, so a hung database means fallback, not unready
                return await asyncio.wait_for(self.db.check(), CHECK_TIMEOUT_S)
            except TimeoutError:
                self._fall_back(DependencyUnavailable("postgres", "no answer in time", kind="timeout"))
            except DependencyUnavailable as exc:
                self._fall_back(exc)
        return {"backend": "json", "serving": DEGRADED, "database": self._down}

    def describe(self) -> dict[str, Any]:
        if self._down is None:
            return {"backend": "postgres", "status": "up"}
        return {"backend": "json", "status": DEGRADED, "database": self._down, "since": self._down_since}

    async def list_collections(self) -> list[CollectionRecord]:
        return await self._read(lambda r: r.list_collections())

    async def get_collection(self, name: str) -> CollectionRecord | None:
        return await self._read(lambda r: r.get_collection(name))

    async def documents(self, collection: str) -> dict[str, DocumentRecord]:
        return await self._read(lambda r: r.documents(collection))

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await self._read(lambda r: r.get_job(job_id))

    async def jobs_to_recover(self) -> list[JobRecord]:
        return await self._read(lambda r: r.jobs_to_recover())

    async def list_jobs(
        self, *, state: str | None = None, collection: str | None = None, limit: int = 100
    ) -> list[JobRecord]:
        return await self._read(lambda r: r.list_jobs(state=state, collection=collection, limit=limit))

    async def job_counts(self) -> dict[str, int]:
        return await self._read(lambda r: r.job_counts())

    async def add_collection(self, record: CollectionRecord) -> None:
        await self._write(lambda r: r.add_collection(record))

    async def remove_collection(self, name: str) -> CollectionRecord | None:
        return await self._write(lambda r: r.remove_collection(name))

    async def put_documents(
        self,
        collection: str,
        records: Sequence[DocumentRecord],
        chunks: Mapping[str, Sequence[ChunkRecord]] | None = None,
    ) -> None:
        await self._write(lambda r: r.put_documents(collection, records, chunks))

    async def remove_documents(self, collection: str, ids: Sequence[str]) -> list[str]:
        return await self._write(lambda r: r.remove_documents(collection, ids))

    async def save_job(self, job: JobRecord) -> None:
        await self._write(lambda r: r.save_job(job))
