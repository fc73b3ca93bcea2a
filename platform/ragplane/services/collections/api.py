"""Collections, documents and ingestion-job handlers.

Requests are parsed and answers serialised by the models in `schemas`, which also document them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.requests import Request
from starlette.responses import Response

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.vectors import VectorStore
from ragplane.errors import (
    CollectionExists,
    Conflict,
    DependencyUnavailable,
    DocumentNotFound,
    NotFound,
    UnsupportedMediaType,
)
from ragplane.kit.naming import COLLECTION_NAME
from ragplane.kit.requests import media_type, read_body, read_json_object
from ragplane.kit.schemas import ModelResponse
from ragplane.kit.versioning import V1, ApiRoute
from ragplane.services.collections import documents, schemas
from ragplane.services.collections.ingest import Ingestor
from ragplane.services.collections.models import CollectionRecord
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.schemas import (
    ChunkDefaults,
    Collection,
    CollectionCreate,
    CollectionList,
    DocumentList,
    DocumentQuery,
    DocumentsBody,
    DocumentSummary,
    Job,
    JobList,
    JobsQuery,
)
from ragplane.services.collections.stats import CollectionStats

COLLECTION_BODY_LIMIT = 64 * 1024

log = logging.getLogger("ragplane.collections")


class CollectionsApi:
    def __init__(
        self,
        *,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        ingestor: Ingestor,
        stats: CollectionStats,
        chunk_size: int,
        chunk_overlap: int,
        upload_limit: int,
    ) -> None:
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.ingestor = ingestor
        self.stats = stats
        self.chunk_defaults = ChunkDefaults(chunk_size, chunk_overlap)  # what a new collection gets unless it says
        self.upload_limit = upload_limit
        self.changes = asyncio.Lock()  # creates, deletes and restores of collections, one at a time

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute("GET", "/rag/collections", self.list_collections, "List collections", schemas.LIST),
            ApiRoute("POST", "/rag/collections", self.create, "Create a collection", schemas.CREATE),
            ApiRoute("GET", "/rag/collections/{name}", self.get_collection, "Show one collection", schemas.GET),
            ApiRoute(
                "DELETE", "/rag/collections/{name}", self.delete, "Delete a collection and its vectors", schemas.DELETE
            ),
            ApiRoute(
                "GET", "/rag/collections/{name}/stats", self.collection_stats, "Collection statistics", schemas.STATS
            ),
            ApiRoute(
                "GET",
                "/rag/collections/{name}/documents",
                self.list_documents,
                "List a collection's documents",
                schemas.DOCUMENTS,
            ),
            ApiRoute(
                "POST",
                "/rag/collections/{name}/documents",
                self.add_documents,
                "Ingest documents (JSON or multipart files); returns a job",
                schemas.ADD_DOCUMENTS,
            ),
            ApiRoute(
                "DELETE",
                "/rag/collections/{name}/documents",
                self.delete_document,
                "Delete the document named by the `id` query parameter (any id, even one a path cannot carry)",
                schemas.DELETE_DOCUMENT_BY_QUERY,
                legacy=False,
            ),
            ApiRoute(
                "DELETE",
                "/rag/collections/{name}/documents/{document_id:document_id}",
                self.delete_document,
                "Delete a document and its vectors",
                schemas.DELETE_DOCUMENT,
                legacy=False,
            ),
            ApiRoute("GET", "/rag/jobs", self.jobs, "List ingestion jobs, newest first", schemas.JOBS),
            ApiRoute("GET", "/rag/jobs/{job_id}", self.job, "Show an ingestion job", schemas.JOB),
        ]

    async def _record(self, name: str, *, how_to_create: bool = False) -> CollectionRecord:
        # A name no collection can have (e.g. a NUL byte) is not looked up: it does not exist.
        valid = COLLECTION_NAME.fullmatch(name) is not None
        record = await self.registry.get_collection(name) if valid else None
        if record is None:
            hint = (
                f' Create it with POST {V1}/rag/collections {{"name": "{name}"}} '
                f"or `ragplane ingest PATH --collection {name}`."
            )
            raise NotFound(f"Collection {name!r} does not exist." + (hint if how_to_create and valid else ""))
        return record

    async def _described(self, record: CollectionRecord) -> Collection:
        docs = await self.registry.documents(record.name)
        return Collection.of(record, len(docs), sum(d.chunks for d in docs.values()))

    async def list_collections(self, request: Request) -> Response:
        records = await self.registry.list_collections()
        return ModelResponse(CollectionList(collections=[await self._described(r) for r in records]))

    async def get_collection(self, request: Request) -> Response:
        return ModelResponse(await self._described(await self._record(request.path_params["name"])))

    async def create(self, request: Request) -> Response:
        body = await read_json_object(request, COLLECTION_BODY_LIMIT)
        new = CollectionCreate.parse(body, context=self.chunk_defaults)
        name = new.name
        async with self.changes:  # one create or delete at a time: two racing creates get one 201, one 409
            record = await self._create(name, new.description, new.chunk_size, new.chunk_overlap)
        log.info("collection %s created", name, extra={"fields": {"event": "collection_created", "collection": name}})
        return ModelResponse(
            Collection.of(record, 0, 0), status_code=201, headers={"Location": f"{V1}/rag/collections/{name}"}
        )

    async def _create(self, name: str, description: str, size: int, overlap: int) -> CollectionRecord:
        await self.registry.ensure_writable()
        if await self.registry.get_collection(name) is not None:
            raise Conflict(f"Collection {name!r} already exists.")
        dimension = await self.embedder.dimension()
        record = CollectionRecord(name, self.embedder.name, dimension, description, size, overlap)
        try:
            await self.store.create_collection(name, dimension)
        except CollectionExists:
            # An empty one is what a create whose registry write failed leaves behind: adopt it.
            if await self.store.count(name) != 0:
                raise Conflict(
                    f"Qdrant already holds a collection named {name!r} that ragplane does not manage; "
                    "choose another name or remove it from Qdrant."
                ) from None
        try:
            await self.registry.add_collection(record)
        except DependencyUnavailable:
            # The database may have committed before the connection broke: keep the (empty)
            # Qdrant collection, so whatever the registry holds stays consistent; a retry adopts it.
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                await self.store.delete_collection(name)  # undo, so a retry starts clean
            raise
        await self.stats.refresh(name)
        return record

    async def delete(self, request: Request) -> Response:
        async with self.changes:
            record = await self._record(request.path_params["name"])
            await self.registry.ensure_writable()  # before anything changes: all of it, or none
            # Running jobs would keep writing into the deleted (or a re-created) collection.
            await self.ingestor.cancel_collection(record.name)
            # Vectors first: if the registry write then fails, a retried DELETE finishes the job.
            await self.store.delete_collection(record.name)
            await self.registry.remove_collection(record.name)
            self.stats.forget(record.name)
        log.info(
            "collection %s deleted",
            record.name,
            extra={"fields": {"event": "collection_deleted", "collection": record.name}},
        )
        return Response(status_code=204)

    async def collection_stats(self, request: Request) -> Response:
        record = await self._record(request.path_params["name"])
        stats = await self.stats.compute(record.name)
        return ModelResponse(schemas.CollectionStats(**stats, embedder=record.embedder, dimension=record.dimension))

    async def list_documents(self, request: Request) -> Response:
        record = await self._record(request.path_params["name"])
        docs = await self.registry.documents(record.name)
        summaries = [DocumentSummary.of(d) for d in sorted(docs.values(), key=lambda d: d.id)]
        return ModelResponse(DocumentList(collection=record.name, documents=summaries))

    async def add_documents(self, request: Request) -> Response:
        record = await self._record(request.path_params["name"], how_to_create=True)
        await self.registry.ensure_writable()
        kind = media_type(request)
        if kind == "multipart/form-data":
            await read_body(request, self.upload_limit)
            async with request.form(max_files=documents.MAX_DOCUMENTS, max_part_size=self.upload_limit) as form:
                docs = await documents.parse_files(form)
        elif kind in ("application/json", ""):
            docs = DocumentsBody.parse(await read_json_object(request, self.upload_limit)).documents_in()
        else:
            raise UnsupportedMediaType(f"Send application/json or multipart/form-data, not {kind}.")
        async with self.changes:  # never while a document of this collection is being deleted
            job = await self.ingestor.submit(record, docs)
        return ModelResponse(Job.of(job), status_code=202, headers={"Location": f"{V1}/rag/jobs/{job.id}"})

    async def delete_document(self, request: Request) -> Response:
        """Its vectors first, then its registry record: a retry after a failure in between finishes the job.

        Refused while the collection has a job queued or running: the job could commit the
        document again after its points were removed, leaving a record with no vectors.
        """
        record = await self._record(request.path_params["name"])
        doc_id = request.path_params.get("document_id") or DocumentQuery.parse(request.query_params).id
        async with self.changes:  # no job is submitted in between
            if self.ingestor.busy(record.name):
                raise Conflict(
                    f"Collection {record.name!r} has an ingestion job queued or running; delete the document "
                    f"when it ends (GET {V1}/rag/jobs?collection={record.name} lists it)."
                )
            if doc_id not in await self.registry.documents(record.name):
                raise DocumentNotFound(f"Collection {record.name!r} has no document {doc_id!r}.")
            await self.registry.ensure_writable()
            await self.store.delete_document(record.name, doc_id)
            await self.registry.remove_documents(record.name, [doc_id])
        await self.store.touch(record.name)  # cached results that cite it now miss
        await self.stats.refresh(record.name)
        log.info(
            "document %s deleted from %s",
            doc_id,
            record.name,
            extra={"fields": {"event": "document_deleted", "collection": record.name, "document": doc_id}},
        )
        return Response(status_code=204)

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        job = await self.registry.get_job(job_id) if job_id.isprintable() else None
        if job is None:
            raise NotFound(f"Job {request.path_params['job_id']!r} does not exist.")
        return ModelResponse(Job.of(job))

    async def jobs(self, request: Request) -> Response:
        filters = JobsQuery.parse(request.query_params)
        jobs = await self.registry.list_jobs(state=filters.state, collection=filters.collection, limit=filters.limit)
        return ModelResponse(JobList(jobs=[Job.of(j) for j in jobs]))
