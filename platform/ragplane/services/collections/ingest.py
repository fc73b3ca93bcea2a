"""Ingestion jobs: chunk, embed and upsert documents in the background.

A POST of documents creates a `queued` job and returns at once (202); a bounded number
of jobs run concurrently. A job chunks its documents first (so it knows its chunk total),
writes each document's new chunks, records the documents every RECORD_EVERY documents,
and only then removes their older chunks: a failure mid-way leaves the previous version
searchable, never a half-replaced one. Unchanged documents (same content hash) are
skipped, so re-ingesting a corpus is cheap and duplicate-free: point ids derive from
collection, document, content hash and chunk number. Progress is saved as it goes.

A failed or cancelled job removes the points of documents it had not recorded (`sweep.py`);
one whose process stopped is marked `failed` at the next start, and its points removed
then (each names its job). A clean-up that fails (Qdrant down) is retried, and the job
stays flagged `sweep_pending` in the registry until it succeeds, across restarts too.
Re-submitting the same documents completes it.
When the registry cannot record a job's end (PostgreSQL down), the end is kept in memory
and written when the registry recovers, so no job stays `running` forever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Collection, Sequence

from opentelemetry.trace import Tracer

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import CollectionNotFound, DependencyError, RegistryError, ServiceUnavailable
from ragplane.services.collections.documents import DocumentIn
from ragplane.services.collections.models import CollectionRecord, JobRecord, JobState, now
from ragplane.services.collections.points import Ingested, PointWriter, chunk_document
from ragplane.services.collections.progress import JobProgress
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.stats import CollectionStats
from ragplane.services.collections.sweep import RETRY_EVERY_S, Strays, keep_versions
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

RECORD_EVERY = 16
QUEUE_RETRY_AFTER_S = 5
INTERRUPTED = "interrupted: the service stopped before the job finished; submit the documents again"
COLLECTION_DELETED = "the collection was deleted"

log = logging.getLogger("ragplane.ingest")


def failure_reason(exc: BaseException | None, message: str) -> str:
    """The `reason` label of ragplane_ingestion_failures_total for a job that failed."""
    if message == COLLECTION_DELETED:
        return "deleted"
    if message == INTERRUPTED:
        return "interrupted"
    if isinstance(exc, DependencyError):
        dependency = "registry" if exc.dependency in ("postgres", "registry") else exc.dependency
        return dependency if dependency in catalog.INGESTION_FAILURE_REASONS else "internal"
    if isinstance(exc, RegistryError):
        return "registry"
    return "internal"


class Ingestor:
    """Runs ingestion jobs with bounded concurrency and records their progress."""

    def __init__(
        self,
        *,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        metrics: ServiceMetrics,
        tracer: Tracer,
        stats: CollectionStats,
        concurrency: int,
        max_jobs: int,
    ) -> None:
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.tracer = tracer
        self._slots = asyncio.Semaphore(concurrency)
        self.max_jobs = max_jobs
        self._tasks: dict[asyncio.Task[None], str] = {}  # unfinished jobs and their collection
        self._cancel_reasons: dict[str, str] = {}
        self.documents_total = metrics.counter(catalog.INGESTION_DOCUMENTS)
        self.chunks_total = metrics.counter(catalog.INGESTION_CHUNKS)
        self.jobs_gauge = metrics.gauge(catalog.INGESTION_JOBS)
        self.jobs_gauge.prime()
        self.durations = metrics.histogram(catalog.INGESTION_JOB_DURATION)
        self.durations.prime()
        self.failures = metrics.counter(catalog.INGESTION_FAILURES)
        self.stats = stats
        self._unsaved: dict[str, JobRecord] = {}  # ended jobs the registry could not record yet
        self._writing: dict[str, str] = {}  # job id -> collection, until the job's end is recorded
        self.strays = Strays(store, registry, swept=self._swept)
        self.writer = PointWriter(store, embedder, tracer)

    async def recover(self) -> int:
        """Mark jobs left unfinished by a previous process as failed, and remove the points they
        (and failed jobs whose clean-up could not finish then) wrote but never recorded; returns
        how many were left unfinished.

        A job is saved `sweep_pending` until its points are gone, so a clean-up that fails now
        (Qdrant down at start) is tried again by `retry_sweeps`, and by the next start if this
        process stops first. One collections replica runs ingestion (docs/database.md): another
        replica's running jobs would look unfinished here too.
        """
        left = [j for j in await self.registry.jobs_to_recover() if not self._owns(j.id)]
        for job in left:
            self.strays.add(job.id, job.collection)
        await self.strays.sweep()
        stale = [j for j in left if not JobState(j.state).finished]
        for job in stale:
            self.failures.labels(collection=job.collection, reason="interrupted").inc()
            ended = dataclasses.replace(
                job,
                state=JobState.FAILED,
                error=INTERRUPTED,
                finished_at=now(),
                sweep_pending=self.strays.pending(job.id),
            )
            await self._save_finished(ended, timed=False)  # its time includes the outage: no duration
        await self.count_jobs()
        return len(stale)

    async def retry_sweeps(self, every_s: float = RETRY_EVERY_S) -> None:
        """Forever: retry the clean-ups that failed, every `every_s` while no job runs (a job
        sweeps before it writes anyway; a sweep keeps each document's committed version only,
        which would take a running job's uncommitted points too)."""
        while True:
            await asyncio.sleep(every_s)
            if self._tasks or not self.strays.pending_any():
                continue
            try:
                await self.strays.sweep()
            except Exception:
                log.exception("the retried clean-up of failed jobs failed")

    async def _swept(self, job_id: str, collection: str) -> None:
        """A job's strays are gone: its collection's figures change, and a saved flag is cleared."""
        await self.stats.refresh(collection)
        try:
            job = await self.registry.get_job(job_id)
            if job is not None and job.sweep_pending:
                await self.registry.save_job(dataclasses.replace(job, sweep_pending=False))
        except Exception as exc:  # the next start sweeps again: harmless, the points are gone
            log.warning("cannot clear the clean-up flag of job %s: %s", job_id, str(exc) or type(exc).__name__)

    def _owns(self, job_id: str) -> bool:
        return job_id in self._unsaved or any(t.get_name() == job_id for t in self._tasks)

    async def flush_unsaved(self) -> None:
        """Record the ends of jobs that finished while the registry was down (called on its recovery)."""
        for job_id, job in list(self._unsaved.items()):
            try:
                await self.registry.save_job(job)
            except Exception:
                log.exception("could not record the end of job %s yet", job_id)
                return
            self._unsaved.pop(job_id, None)
        await self.count_jobs()

    async def count_jobs(self) -> None:
        """Publish ragplane_ingestion_jobs from the registry (all replicas' jobs, finished ones of 24 h)."""
        try:
            counts = await self.registry.job_counts()
        except Exception as exc:
            log.warning("cannot count ingestion jobs: %s", exc)
            return
        for state in JobState:
            self.jobs_gauge.labels(state=state.value).set(counts.get(state.value, 0))

    async def submit(self, collection: CollectionRecord, documents: Sequence[DocumentIn]) -> JobRecord:
        """Queue a job, or refuse with 503 when `max_jobs` are already waiting or running:
        each holds its documents in memory until it finishes."""
        if len(self._tasks) >= self.max_jobs:
            raise ServiceUnavailable(
                f"{len(self._tasks)} ingestion jobs are already queued or running; retry when some finish.",
                retry_after=QUEUE_RETRY_AFTER_S,
            )
        job = JobRecord(id=uuid.uuid4().hex, collection=collection.name, documents_total=len(documents))
        await self.registry.save_job(job)
        task = asyncio.create_task(self._run(job, collection, list(documents)), name=job.id)
        self._tasks[task] = collection.name
        self._writing[job.id] = collection.name
        task.add_done_callback(lambda t: self._tasks.pop(t, None))
        await self.count_jobs()
        return job

    def busy(self, collection: str) -> bool:
        """Whether a job of `collection` is queued or running in this process: until its end is
        recorded, not until its task has also refreshed the figures (a client that saw the job
        completed may delete at once)."""
        return collection in self._writing.values()

    async def cancel_collection(self, name: str) -> None:
        """Stop the collection's jobs (they end `failed`, saying the collection was deleted)."""
        tasks = [task for task, collection in self._tasks.items() if collection == name]
        for task in tasks:
            self._cancel_reasons[task.get_name()] = COLLECTION_DELETED
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:  # a task cancelled before it first ran never recorded its end
            reason = self._cancel_reasons.pop(task.get_name(), None)
            job = await self.registry.get_job(task.get_name())
            if reason and job is not None and not JobState(job.state).finished:
                await self._save_finished(await self._fail(job, reason, []))
        await self.count_jobs()

    async def wait_idle(self) -> None:
        """Wait until every submitted job has finished (used by tests and graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait_idle()

    async def _run(self, job: JobRecord, collection: CollectionRecord, documents: list[DocumentIn]) -> None:
        handed_over = False  # from then on `_ingest` records the job's end, however it ends
        try:
            async with self._slots:
                await self.strays.sweep()  # those a failure left, before this job writes more
                job = dataclasses.replace(job, state=JobState.RUNNING, started_at=now())
                await self.registry.save_job(job)
                attributes: dict[str, str | int] = {"collection": collection.name, "documents": len(documents)}
                with self.tracer.start_as_current_span("ingest", attributes=attributes):
                    handed_over = True
                    job = await self._ingest(job, collection, documents)
        except asyncio.CancelledError:
            if not handed_over:  # cancelled while waiting for a slot, or while recording the start
                reason = self._cancel_reasons.pop(job.id, INTERRUPTED)
                await self._save_finished(await self._fail(job, reason, []))
            raise
        except Exception as exc:  # the registry could not record the start: the job ends here
            log.exception("ingestion job %s could not start", job.id)
            job = await self._fail(job, str(exc) or type(exc).__name__, [], cause=exc)
            await self._save_finished(job)
        await self.count_jobs()
        await self.stats.refresh(collection.name)
        log.info(
            "ingestion job %s %s", job.id, job.state, extra={"fields": {"event": "ingestion_job", **job.to_json()}}
        )

    async def _ingest(self, job: JobRecord, collection: CollectionRecord, documents: list[DocumentIn]) -> JobRecord:
        pending: list[Ingested] = []
        written: set[str] = set()  # documents with points written and not yet recorded
        name = collection.name
        changed = False  # points were written since the collection's version was last bumped
        progress = JobProgress(self.registry, job)
        try:
            await self.count_jobs()  # now running
            known = await self.registry.documents(name)
            todo: list[DocumentIn] = []
            for doc in documents:
                previous = known.get(doc.id)
                if previous is not None and previous.content_hash == doc.content_hash:
                    progress.count(documents_skipped=1)
                    self.documents_total.labels(collection=name, result="skipped").inc()
                else:
                    todo.append(doc)
            plan = [(doc, await chunk_document(collection, doc)) for doc in todo]
            if plan:
                progress.count(chunks_total=sum(len(chunks) for _, chunks in plan))
                await progress.save(now=True)
            for doc, chunks in plan:
                changed = True
                written.add(doc.id)
                record, rows = await self.writer.write(collection, doc, chunks, progress)
                pending.append((record, rows))
                progress.count(documents_ingested=1)
                self.documents_total.labels(collection=name, result="ingested").inc()
                self.chunks_total.labels(collection=name).inc(record.chunks)
                if len(pending) >= RECORD_EVERY:
                    await self._commit(name, pending)  # also bumps the version: cached results now miss
                    written.clear()
                    pending, changed = [], False
                    await progress.save(now=True)
                else:
                    await progress.save()
            if pending:
                await self._commit(name, pending)
                pending, changed = [], False
            written.clear()
            job = dataclasses.replace(progress.job, state=JobState.COMPLETED, finished_at=now())
        except asyncio.CancelledError:
            job = await self._fail(progress.job, self._cancel_reasons.pop(job.id, INTERRUPTED), pending, written)
            raise
        except Exception as exc:
            log.exception("ingestion job %s failed", job.id)
            job = await self._fail(progress.job, str(exc) or type(exc).__name__, pending, written, cause=exc)
        finally:
            if changed:  # also after a failure: some points may have changed
                await self._touch(name)
            await self._save_finished(job)
        return job

    async def _touch(self, collection: str) -> None:
        try:
            await self.store.touch(collection)
        except CollectionNotFound:  # deleted meanwhile: nothing left to cache
            pass
        except Exception:  # the caches' TTL bounds the staleness instead
            log.exception("could not bump the content version of %s", collection)

    async def _record(self, collection: str, pending: list[Ingested]) -> None:
        await self.registry.put_documents(
            collection, [record for record, _ in pending], {record.id: chunks for record, chunks in pending}
        )

    async def _commit(self, collection: str, pending: list[Ingested]) -> None:
        """Record fully written documents, then remove their previous versions' points."""
        await self._record(collection, pending)
        await keep_versions(self.store, collection, {record.id: record.content_hash for record, _ in pending})
        await self.store.touch(collection)

    async def _fail(
        self,
        job: JobRecord,
        reason: str,
        pending: list[Ingested],
        written: Collection[str] = (),
        *,
        cause: BaseException | None = None,
    ) -> JobRecord:
        if pending:  # fully written to Qdrant: record them so the registry matches the vectors
            try:
                await self._record(job.collection, pending)
            except Exception:
                log.exception("could not record %d ingested documents of job %s", len(pending), job.id)
        if written:  # whatever is not recorded now must not stay searchable
            self.strays.add(job.id, job.collection)
            await self.strays.sweep()
        done = job.documents_ingested + job.documents_skipped
        failed = job.documents_total - done
        self.documents_total.labels(collection=job.collection, result="failed").inc(failed)
        self.failures.labels(collection=job.collection, reason=failure_reason(cause, reason)).inc()
        return dataclasses.replace(
            job,
            state=JobState.FAILED,
            documents_failed=failed,
            error=f"failed after {done} of {job.documents_total} documents: {reason}",
            finished_at=now(),
            sweep_pending=self.strays.pending(job.id),
        )

    async def _save_finished(self, job: JobRecord, *, timed: bool = True) -> None:
        """Record a job's end; when the registry cannot take it now, keep it for `flush_unsaved`."""
        self._writing.pop(job.id, None)  # it writes no more points, whether or not the end is recorded
        if timed and job.started_at is not None and job.finished_at is not None:
            self.durations.labels(state=job.state).observe(max(0.0, job.finished_at - job.started_at))
        try:
            await self.registry.save_job(job)
        except Exception:
            log.exception("could not record the end of job %s; it is kept until the registry recovers", job.id)
            self._unsaved[job.id] = job
