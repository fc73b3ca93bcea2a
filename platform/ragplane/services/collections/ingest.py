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
then (each names its job). Re-submitting the same documents completes it.
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
from ragplane.adapters.errors import CollectionNotFound, DependencyError
from ragplane.adapters.vectors import Point, VectorStore
from ragplane.kit.errors import ServiceUnavailable
from ragplane.kit.tracing import stage
from ragplane.lexical import document_vector
from ragplane.services.collections.chunking import Chunk, chunk_markdown
from ragplane.services.collections.documents import DocumentIn
from ragplane.services.collections.models import (
    ChunkRecord,
    CollectionRecord,
    DocumentRecord,
    JobRecord,
    JobState,
    now,
)
from ragplane.services.collections.progress import JobProgress
from ragplane.services.collections.registry import Registry, RegistryError
from ragplane.services.collections.stats import CollectionStats
from ragplane.services.collections.sweep import JOB_KEY, Strays, keep_versions
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

POINT_NAMESPACE = uuid.UUID("6f1c7e0e-5b7a-4c39-9a53-2f1f0c8e6a11")
RECORD_EVERY = 16
# Chunks per embedding call and per upsert. The embedder and local Qdrant each have one
# thread that searches share; small batches let a search slip in between (~0.1 s apart).
EMBED_BATCH = 16
QUEUE_RETRY_AFTER_S = 5
INTERRUPTED = "interrupted: the service stopped before the job finished; submit the documents again"
COLLECTION_DELETED = "the collection was deleted"

log = logging.getLogger("ragplane.ingest")

Ingested = tuple[DocumentRecord, list[ChunkRecord]]


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


def point_id(collection: str, document_id: str, content_hash: str, index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{collection}\x00{document_id}\x00{content_hash}\x00{index}"))


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
        self.strays = Strays(store, registry, swept=stats.refresh)

    async def recover(self) -> int:
        """Mark jobs left unfinished by a previous process as failed, and remove the points they
        wrote but never recorded; returns how many.

        One collections replica runs ingestion (docs/database.md): another replica's running
        jobs would look unfinished here too.
        """
        stale = [j for j in await self.registry.unfinished_jobs() if not self._owns(j.id)]
        for job in stale:
            self.failures.labels(collection=job.collection, reason="interrupted").inc()
            ended = dataclasses.replace(job, state=JobState.FAILED, error=INTERRUPTED, finished_at=now())
            self.strays.add(job.id, job.collection)
            await self._save_finished(ended, timed=False)  # its time includes the outage: no duration
        await self.strays.sweep()
        await self.count_jobs()
        return len(stale)

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
        task.add_done_callback(lambda t: self._tasks.pop(t, None))
        await self.count_jobs()
        return job

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
            plan = [(doc, await self._chunk(collection, doc)) for doc in todo]
            if plan:
                progress.count(chunks_total=sum(len(chunks) for _, chunks in plan))
                await progress.save(now=True)
            for doc, chunks in plan:
                changed = True
                written.add(doc.id)
                record, rows = await self._ingest_one(collection, doc, chunks, progress)
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
        )

    async def _save_finished(self, job: JobRecord, *, timed: bool = True) -> None:
        """Record a job's end; when the registry cannot take it now, keep it for `flush_unsaved`."""
        if timed and job.started_at is not None and job.finished_at is not None:
            self.durations.labels(state=job.state).observe(max(0.0, job.finished_at - job.started_at))
        try:
            await self.registry.save_job(job)
        except Exception:
            log.exception("could not record the end of job %s; it is kept until the registry recovers", job.id)
            self._unsaved[job.id] = job

    @staticmethod
    async def _chunk(collection: CollectionRecord, doc: DocumentIn) -> list[Chunk]:
        # Chunking a large document takes a while (~0.1 s per MB): off the event loop.
        chunks = await asyncio.to_thread(
            chunk_markdown, doc.text, size=collection.chunk_size, overlap=collection.chunk_overlap
        )
        # A document of headings only has no body blocks; it is still findable as one chunk.
        return chunks or [Chunk(0, doc.text.strip(), "")]

    async def _ingest_one(
        self, collection: CollectionRecord, doc: DocumentIn, chunks: list[Chunk], progress: JobProgress
    ) -> Ingested:
        content_hash = doc.content_hash
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            await self._store_chunks(collection.name, doc, content_hash, batch, progress.job.id)
            progress.count(chunks=len(batch))
            await progress.save()
        # The previous version's chunks go once this one is recorded (`_commit`).
        record = DocumentRecord(
            id=doc.id,
            title=doc.title,
            content_hash=content_hash,
            chunks=len(chunks),
            bytes=len(doc.text.encode()),
            source=doc.source,
            metadata=dict(doc.metadata),
        )
        rows = [
            ChunkRecord(doc.id, c.index, point_id(collection.name, doc.id, content_hash, c.index), c.section, c.text)
            for c in chunks
        ]
        return record, rows

    async def _store_chunks(
        self, collection: str, doc: DocumentIn, content_hash: str, chunks: list[Chunk], job_id: str
    ) -> None:
        texts = [c.embedding_text(doc.title) for c in chunks]
        with stage(self.tracer, "embed", embedder=self.embedder.name, texts=len(texts)):
            vectors = await self.embedder.embed(texts)
        points = [
            Point(
                id=point_id(collection, doc.id, content_hash, chunk.index),
                vector=vector,
                sparse=document_vector(text),  # the same text as the embedding: title, section path, chunk
                payload={
                    "document_id": doc.id,
                    "title": doc.title,
                    "text": chunk.text,
                    "section": chunk.section,
                    "chunk_index": chunk.index,
                    "source": doc.source,
                    "content_hash": content_hash,
                    "metadata": dict(doc.metadata),
                    JOB_KEY: job_id,
                },
            )
            for chunk, text, vector in zip(chunks, texts, vectors, strict=True)
        ]
        with stage(self.tracer, "upsert", collection=collection, points=len(points)):
            await self.store.upsert(collection, points)
