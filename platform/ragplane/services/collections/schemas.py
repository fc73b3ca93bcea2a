"""What the collections service accepts and answers, as pydantic models, and its OpenAPI operations.

A new collection refuses unknown fields; its chunk sizes default to the service's
(`CHUNK_SIZE_CHARS`, `CHUNK_OVERLAP_CHARS`), passed in as the validation context, and the
overlap is at most half the size. A JSON body of documents is checked item by item with the
same rules as uploaded files (`documents.check_id`, no NUL anywhere PostgreSQL would store
it), then for ids given twice, so one bad item refuses the whole request before any job exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ragplane.errors import ValidationFailed
from ragplane.kit.openapi import components, json_body, json_response, query_parameters, ref
from ragplane.kit.schemas import CollectionName, RequestModel, ResponseModel, Rule, Timestamp, invalid, optional
from ragplane.kit.versioning import V1
from ragplane.services.collections.documents import (
    MAX_DOCUMENTS,
    MAX_ID_CHARS,
    NUL_RULE,
    DocumentIn,
    check_id,
    duplicates,
    has_nul,
    hash_id,
    title_of,
)
from ragplane.services.collections.models import CollectionRecord, DocumentRecord, JobRecord, JobState
from ragplane.services.collections.stats import iso

MIN_CHUNK, MAX_CHUNK = 200, 4000
MAX_DESCRIPTION = 1000
MAX_JOBS_LISTED = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class ChunkDefaults:
    """The validation context of `CollectionCreate`: the service's chunk size and overlap. The
    defaults are CHUNK_SIZE_CHARS's and CHUNK_OVERLAP_CHARS's, which the OpenAPI document shows."""

    size: int = 800
    overlap: int = 120


class CollectionCreate(RequestModel):
    """A new collection."""

    model_config = ConfigDict(extra="forbid")

    name: CollectionName
    description: Annotated[
        str, Field(max_length=MAX_DESCRIPTION), Rule(f"must be a string of at most {MAX_DESCRIPTION} characters")
    ] = ""
    chunk_size: Annotated[
        int, Field(strict=True, ge=MIN_CHUNK, le=MAX_CHUNK), Rule(f"must be an integer in {MIN_CHUNK}..{MAX_CHUNK}")
    ] = Field(default=ChunkDefaults.size, description="Characters per chunk; absent: the service's CHUNK_SIZE_CHARS.")
    chunk_overlap: Annotated[int, Field(strict=True, ge=0)] = Field(
        default=ChunkDefaults.overlap,
        description="Characters neighbouring chunks share, 0 to half of chunk_size; "
        "absent: the service's CHUNK_OVERLAP_CHARS (at most half of chunk_size).",
    )

    @model_validator(mode="before")
    @classmethod
    def _service_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        defaults = info.context
        if not isinstance(data, dict) or not isinstance(defaults, ChunkDefaults):
            return data
        size = data.get("chunk_size", defaults.size)
        fits = isinstance(size, int) and not isinstance(size, bool)  # else chunk_size is refused anyway
        overlap = min(defaults.overlap, size // 2) if fits else defaults.overlap
        return {"chunk_size": defaults.size, "chunk_overlap": overlap, **data}

    @field_validator("chunk_overlap", mode="wrap")
    @classmethod
    def _at_most_half(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> int:
        fallback = info.context.size if isinstance(info.context, ChunkDefaults) else ChunkDefaults.size
        half = int(info.data.get("chunk_size", fallback)) // 2
        try:
            overlap = int(handler(value))
        except ValidationError:
            overlap = -1
        if not 0 <= overlap <= half:
            raise ValueError(f"must be an integer in 0..{half}")
        return overlap


def _storable(value: T) -> T:
    """`value` unless it holds a NUL somewhere, which PostgreSQL's text and jsonb refuse."""
    if has_nul(value):
        raise ValueError(NUL_RULE)
    return value


def _text(text: str) -> str:
    if not text.strip():
        raise invalid()
    return _storable(text)


class DocumentInput(RequestModel):
    """One document to ingest."""

    text: Annotated[str, Field(min_length=1), AfterValidator(_text), Rule("must be a non-empty string")]
    title: Annotated[str | None, AfterValidator(_storable)] = Field(
        default=None, description="Defaults to the first Markdown heading, else the id."
    )
    source: Annotated[str | None, AfterValidator(_storable)] = None
    metadata: Annotated[dict[str, Any], AfterValidator(_storable)] = Field(default_factory=dict)
    id: Annotated[str, Field(max_length=MAX_ID_CHARS)] | SkipJsonSchema[None] = optional(
        "Printable characters; defaults to a hash of the text."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _printable_id(cls, value: Any) -> Any:
        """`documents.check_id`, the rule uploaded files are held to too; the id is kept trimmed."""
        if (problem := check_id(value)) is not None:
            raise ValueError(problem)
        return value.strip()

    def document(self) -> DocumentIn:
        doc_id = self.id or hash_id(self.text)
        return DocumentIn(doc_id, self.title or title_of(self.text, doc_id), self.text, self.source, self.metadata)


class DocumentsBody(RequestModel):
    """Documents to ingest, as JSON (multipart files are the other way)."""

    documents: Annotated[
        list[DocumentInput],
        Field(min_length=1, max_length=MAX_DOCUMENTS),
        Rule(
            "must be a non-empty list of documents", too_long="at most {max_length} per request (got {actual_length})"
        ),
    ]

    def documents_in(self) -> list[DocumentIn]:
        """The documents to ingest; `ValidationFailed` naming each id given twice."""
        documents = [d.document() for d in self.documents]
        if errors := duplicates(documents):
            raise ValidationFailed(errors)
        return documents


def _blank_is_absent(value: Any) -> Any:
    return None if value == "" else value


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise invalid()
    return value


class JobsQuery(RequestModel):
    """Filters of the job list; an empty one filters nothing."""

    model_config = ConfigDict(extra="forbid")
    unknown_field: ClassVar[str] = "is not a known filter"

    state: Annotated[
        JobState | None, BeforeValidator(_blank_is_absent), Rule(f"must be one of {', '.join(JobState)}")
    ] = None
    collection: Annotated[CollectionName | None, BeforeValidator(_blank_is_absent)] = None
    limit: Annotated[
        int,
        Field(ge=1, le=MAX_JOBS_LISTED),
        BeforeValidator(_whole_number),
        Rule(f"must be an integer in 1..{MAX_JOBS_LISTED}"),
    ] = 100


class DocumentQuery(RequestModel):
    id: Annotated[str, Field(min_length=1), Rule("name the document: .../documents/{id} or .../documents?id={id}")]


# --- responses -------------------------------------------------------------------------------------


class Collection(ResponseModel):
    name: str
    description: str
    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    created_at: Timestamp
    documents: int
    chunks: int

    @classmethod
    def of(cls, record: CollectionRecord, documents: int, chunks: int) -> Collection:
        return cls(
            name=record.name,
            description=record.description,
            embedder=record.embedder,
            dimension=record.dimension,
            chunk_size=record.chunk_size,
            chunk_overlap=record.chunk_overlap,
            created_at=iso(record.created_at),
            documents=documents,
            chunks=chunks,
        )


class CollectionList(ResponseModel):
    collections: list[Collection]


class CollectionStats(ResponseModel):
    collection: str
    documents: int
    chunks: int
    vectors: int
    disk_bytes: int | None = Field(description="Null when Qdrant runs as a server.")
    text_bytes: int
    last_ingested_at: Timestamp | None
    embedder: str
    dimension: int


class DocumentSummary(ResponseModel):
    id: str
    title: str
    source: str | None
    chunks: int
    bytes: int
    content_hash: str
    ingested_at: Timestamp

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentSummary:
        return cls(
            id=record.id,
            title=record.title,
            source=record.source,
            chunks=record.chunks,
            bytes=record.bytes,
            content_hash=record.content_hash,
            ingested_at=iso(record.ingested_at),
        )


class DocumentList(ResponseModel):
    collection: str
    documents: list[DocumentSummary] = Field(description="By id.")


class JobCounts(ResponseModel):
    total: int
    ingested: int
    skipped: int
    failed: int


class JobLinks(ResponseModel):
    self_: str = Field(alias="self")


class Job(ResponseModel):
    id: str
    collection: str
    state: JobState
    documents: JobCounts
    chunks: int = Field(description="Chunks stored so far.")
    chunks_total: int = Field(description="Chunks of the documents to ingest, once chunked.")
    error: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    links: JobLinks

    @classmethod
    def of(cls, job: JobRecord) -> Job:
        return cls(
            id=job.id,
            collection=job.collection,
            state=JobState(job.state),
            documents=JobCounts(
                total=job.documents_total,
                ingested=job.documents_ingested,
                skipped=job.documents_skipped,
                failed=job.documents_failed,
            ),
            chunks=job.chunks,
            chunks_total=job.chunks_total,
            error=job.error,
            created_at=iso(job.created_at),
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            links=JobLinks(self_=f"{V1}/rag/jobs/{job.id}"),
        )


class JobList(ResponseModel):
    jobs: list[Job]


# --- OpenAPI ---------------------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = components(
    requests=[CollectionCreate, DocumentsBody, JobsQuery],
    responses=[CollectionList, Collection, CollectionStats, DocumentList, Job, JobList],
)

DELETED = {"204": {"description": "Deleted, with its vectors."}}

LIST = {"responses": {"200": json_response(CollectionList, "All collections.")}}
CREATE = {"requestBody": json_body(CollectionCreate), "responses": {"201": json_response(Collection, "Created.")}}
GET = {"responses": {"200": json_response(Collection, "The collection.")}}
DELETE = {"responses": DELETED}
DELETE_DOCUMENT = {
    "description": "Ids may contain slashes (`notes/a.md`), as such or encoded (`notes%2Fa.md`).",
    "responses": DELETED,
}
DELETE_DOCUMENT_BY_QUERY = {"parameters": query_parameters(DocumentQuery), "responses": DELETED}
STATS = {"responses": {"200": json_response(CollectionStats, "Counts and sizes.")}}
DOCUMENTS = {"responses": {"200": json_response(DocumentList, "The collection's documents.")}}
ADD_DOCUMENTS = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ref(DocumentsBody)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "contentMediaType": "text/markdown"}}
                    },
                }
            },
        },
    },
    "responses": {"202": json_response(Job, "Accepted; poll the job for progress.")},
}
JOB = {"responses": {"200": json_response(Job, "The job.")}}
JOBS = {
    "parameters": query_parameters(JobsQuery),
    "responses": {"200": json_response(JobList, "Jobs, newest first.")},
}
