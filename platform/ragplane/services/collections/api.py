"""Collections, documents and ingestion-job handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.errors import CollectionExists, DependencyUnavailable
from ragplane.adapters.vectors import VectorStore
from ragplane.kit.errors import Conflict, DocumentNotFound, NotFound, UnsupportedMediaType, ValidationFailed
from ragplane.kit.naming import COLLECTION_NAME, COLLECTION_NAME_RULE
from ragplane.kit.requests import media_type, read_body, read_json_object
from ragplane.kit.versioning import V1, ApiRoute
from ragplane.services.collections import documents, schemas
from ragplane.services.collections.ingest import Ingestor
from ragplane.services.collections.models import CollectionRecord, JobRecord, JobState
from ragplane.services.collections.registry import Registry
from ragplane.services.collections.stats import CollectionStats, iso

COLLECTION_BODY_LIMIT = 64 * 1024
JOB_FILTERS = frozenset({"state", "collection", "limit"})
MAX_JOBS_LISTED = 1000
CREATE_FIELDS = frozenset({"name", "description", "chunk_size", "chunk_overlap"})
MIN_CHUNK, MAX_CHUNK = 200, 4000

log = logging.getLogger("ragplane.collections")


def collection_json(record: CollectionRecord, documents: int, chunks: int) -> dict[str, Any]:
    return {
        "name": record.name,
        "description": record.description,
        "embedder": record.embedder,
        "dimension": record.dimension,
        "chunk_size": record.chunk_size,
        "chunk_overlap": record.chunk_overlap,
        "created_at": iso(record.created_at),
        "documents": documents,
        "chunks": chunks,
    }


def job_json(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "collection": job.collection,
        "state": job.state,
        "documents": {
            "total": job.documents_total,
            "ingested": job.documents_ingested,
            "skipped": job.documents_skipped,
            "failed": job.documents_failed,
        },
        "chunks": job.chunks,
        "chunks_total": job.chunks_total,
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "links": {"self": f"{V1}/rag/jobs/{job.id}"},
    }


def _int_field(
    body: dict[str, Any], name: str, default: int, low: int, high: int, errors: list[tuple[str, str]]
) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append((name, f"must be an integer in {low}..{high}"))
        return default
    return value


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
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
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

    async def _json(self, record: CollectionRecord) -> dict[str, Any]:
        docs = await self.registry.documents(record.name)
        return collection_json(record, len(docs), sum(d.chunks for d in docs.values()))

    async def list_collections(self, request: Request) -> Response:
        records = await self.registry.list_collections()
        return JSONResponse({"collections": [await self._json(r) for r in records]})

    async def get_collection(self, request: Request) -> Response:
        return JSONResponse(await self._json(await self._record(request.path_params["name"])))

    async def create(self, request: Request) -> Response:
        body = await read_json_object(request, COLLECTION_BODY_LIMIT)
        errors: list[tuple[str, str]] = [(k, "is not a known field") for k in sorted(set(body) - CREATE_FIELDS)]
        name = body.get("name")
        if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
            errors.append(("name", COLLECTION_NAME_RULE))
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            errors.append(("description", "must be a string of at most 1000 characters"))
        size = _int_field(body, "chunk_size", self.chunk_size, MIN_CHUNK, MAX_CHUNK, errors)
        overlap = _int_field(body, "chunk_overlap", min(self.chunk_overlap, size // 2), 0, size // 2, errors)
        if errors:
            raise ValidationFailed(errors)
        assert isinstance(name, str) and isinstance(description, str)
        async with self.changes:  # one create or delete at a time: two racing creates get one 201, one 409
            record = await self._create(name, description, size, overlap)
        log.info("collection %s created", name, extra={"fields": {"event": "collection_created", "collection": name}})
        return JSONResponse(
            collection_json(record, 0, 0), status_code=201, headers={"Location": f"{V1}/rag/collections/{name}"}
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
        return JSONResponse({**stats, "embedder": record.embedder, "dimension": record.dimension})

    async def list_documents(self, request: Request) -> Response:
        record = await self._record(request.path_params["name"])
        docs = await self.registry.documents(record.name)
        return JSONResponse(
            {
                "collection": record.name,
                "documents": [
                    {
                        "id": d.id,
                        "title": d.title,
                        "source": d.source,
                        "chunks": d.chunks,
                        "bytes": d.bytes,
                        "content_hash": d.content_hash,
                        "ingested_at": iso(d.ingested_at),
                    }
                    for d in sorted(docs.values(), key=lambda d: d.id)
                ],
            }
        )

    async def add_documents(self, request: Request) -> Response:
        record = await self._record(request.path_params["name"], how_to_create=True)
        await self.registry.ensure_writable()
        kind = media_type(request)
        if kind == "multipart/form-data":
            await read_body(request, self.upload_limit)
            async with request.form(max_files=documents.MAX_DOCUMENTS, max_part_size=self.upload_limit) as form:
                docs = await documents.parse_files(form)
        elif kind in ("application/json", ""):
            docs = documents.parse_json(await read_json_object(request, self.upload_limit))
        else:
            raise UnsupportedMediaType(f"Send application/json or multipart/form-data, not {kind}.")
        async with self.changes:  # never while a document of this collection is being deleted
            job = await self.ingestor.submit(record, docs)
        return JSONResponse(job_json(job), status_code=202, headers={"Location": f"{V1}/rag/jobs/{job.id}"})

    async def delete_document(self, request: Request) -> Response:
        """Its vectors first, then its registry record: a retry after a failure in between finishes the job.

        Refused while the collection has a job queued or running: the job could commit the
        document again after its points were removed, leaving a record with no vectors.
        """
        record = await self._record(request.path_params["name"])
        doc_id = request.path_params.get("document_id") or request.query_params.get("id")
        if not doc_id:
            raise ValidationFailed([("id", "name the document: .../documents/{id} or .../documents?id={id}")])
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
        return JSONResponse(job_json(job))

    async def jobs(self, request: Request) -> Response:
        params = request.query_params
        errors = [(k, "is not a known filter") for k in sorted(set(params) - JOB_FILTERS)]
        state = params.get("state") or None
        if state is not None and state not in set(JobState):
            errors.append(("state", f"must be one of {', '.join(JobState)}"))
        collection = params.get("collection") or None
        if collection is not None and not COLLECTION_NAME.fullmatch(collection):
            errors.append(("collection", COLLECTION_NAME_RULE))
        limit = params.get("limit", "100")
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= MAX_JOBS_LISTED:
            errors.append(("limit", f"must be an integer in 1..{MAX_JOBS_LISTED}"))
        if errors:
            raise ValidationFailed(errors)
        jobs = await self.registry.list_jobs(state=state, collection=collection, limit=int(limit))
        return JSONResponse({"jobs": [job_json(j) for j in jobs]})
