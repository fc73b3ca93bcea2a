"""What the registry stores: collections, their documents and chunks, and ingestion jobs.

Plain dataclasses with explicit JSON conversion, so the JSON file and the PostgreSQL
rows hold exactly the same fields (timestamps are epoch seconds here, `timestamptz`
in PostgreSQL).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

R = TypeVar("R", bound="_Record")


def now() -> float:
    return round(time.time(), 3)


class _Record:
    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_json(cls: type[R], data: dict[str, Any]) -> R:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class CollectionRecord(_Record):
    name: str
    embedder: str
    dimension: int
    description: str = ""
    chunk_size: int = 800
    chunk_overlap: int = 120
    created_at: float = field(default_factory=now)


@dataclass(frozen=True)
class DocumentRecord(_Record):
    id: str
    title: str
    content_hash: str
    chunks: int
    bytes: int
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    ingested_at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkRecord(_Record):
    """One chunk of a document as stored in Qdrant (PostgreSQL keeps these; the JSON file does not)."""

    document_id: str
    index: int
    point_id: str
    section: str
    text: str


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED)


@dataclass(frozen=True)
class JobRecord(_Record):
    id: str
    collection: str
    state: str = JobState.QUEUED
    documents_total: int = 0
    documents_ingested: int = 0
    documents_skipped: int = 0
    documents_failed: int = 0
    chunks: int = 0  # stored so far, counted as they are stored
    chunks_total: int = 0  # of the documents to ingest, known once they are chunked
    error: str | None = None
    created_at: float = field(default_factory=now)
    started_at: float | None = None
    finished_at: float | None = None
    # Failed with points it wrote still in Qdrant (it was down too): a start sweeps them again.
    sweep_pending: bool = False
