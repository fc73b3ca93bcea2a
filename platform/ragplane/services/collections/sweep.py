"""Points that no committed document owns, found and removed.

An ingestion job writes a document's new points first and records the document in the
registry after (in batches); only then are the document's points of other versions
removed. Until that commit its new points are not the document's: when the job fails, is
cancelled, or its process dies, they must go, and the previous version (if any) stays.
Every point carries the id of the job that wrote it, so at the next start the documents
an interrupted job touched can be found without the job's input.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ragplane.adapters.vectors import JOB_FIELD, VectorStore
from ragplane.errors import CollectionNotFound
from ragplane.services.collections.registry import Registry

RETRY_EVERY_S = 30.0

log = logging.getLogger("ragplane.ingest")


async def keep_versions(store: VectorStore, collection: str, versions: Mapping[str, str | None]) -> None:
    """Remove each document's points except those of the given content hash (None: all of them)."""
    for document_id, content_hash in versions.items():
        await store.delete_document(collection, document_id, keep_version=content_hash)


async def keep_committed(store: VectorStore, registry: Registry, collection: str, ids: Iterable[str]) -> None:
    """Leave the documents `ids` exactly the points of the version the registry holds (none if it holds none)."""
    ids = set(ids)
    if not ids:
        return
    known = await registry.documents(collection)
    await keep_versions(store, collection, {i: known[i].content_hash if i in known else None for i in ids})


async def written_by(store: VectorStore, collection: str, job_id: str) -> set[str]:
    """The ids of the documents with points written by `job_id`. Raises CollectionNotFound."""
    found: set[str] = set()
    async for page in store.payload_pages(collection, page=1024, match={JOB_FIELD: job_id}, fields=["document_id"]):
        found.update(str(payload.get("document_id")) for _, payload in page)
    return found


async def remove_strays(store: VectorStore, registry: Registry, collection: str, job_id: str) -> None:
    """Remove the points `job_id` wrote for documents the registry does not hold in that version."""
    ids = await written_by(store, collection, job_id)
    await keep_committed(store, registry, collection, ids)
    if ids:
        await store.touch(collection)  # cached results that cite them now miss


class Strays:
    """Jobs that failed or were interrupted, until the points they left are removed.

    A failure's own clean-up can fail too (Qdrant is often why the job failed): the job
    stays here and is swept again before the next job runs and every RETRY_EVERY_S while
    no job runs; the ingestor saves it `sweep_pending` meanwhile, so a restart sweeps it too.
    """

    def __init__(self, store: VectorStore, registry: Registry, *, swept: Callable[[str, str], Awaitable[None]]) -> None:
        self.store = store
        self.registry = registry
        self.swept = swept  # called with the job id and its collection once the job's strays are gone
        self._jobs: dict[str, str] = {}  # job id -> collection

    def add(self, job_id: str, collection: str) -> None:
        self._jobs[job_id] = collection

    def pending(self, job_id: str) -> bool:
        return job_id in self._jobs

    def pending_any(self) -> bool:
        return bool(self._jobs)

    async def sweep(self) -> None:
        for job_id, collection in list(self._jobs.items()):
            try:
                await remove_strays(self.store, self.registry, collection, job_id)
            except CollectionNotFound:
                pass  # deleted meanwhile: nothing left to remove
            except Exception as exc:
                log.warning("cannot remove the points job %s left yet: %s", job_id, str(exc) or type(exc).__name__)
                continue
            self._jobs.pop(job_id, None)
            await self.swept(job_id, collection)
