"""The collections registry: what the service asks of it, and the three ways it is kept.

`Registry` is the interface the service uses, `Snapshot` the whole registry in memory.
Implementations: `json_file.JsonRegistry` (one JSON file under the data dir: the embedded
default), `postgres.PostgresRegistry` (PostgreSQL/TimescaleDB, its schema in `migrate.py` and
`migrations/`) and `hybrid.HybridRegistry` (PostgreSQL, serving a JSON snapshot while the
database is down).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ragplane.services.collections.models import ChunkRecord, CollectionRecord, DocumentRecord, JobRecord

FORMAT_VERSION = 1
KEEP_FINISHED_JOBS = 500
SNAPSHOT_FLUSH_S = 1.0

RECENT_S = 24 * 3600  # finished jobs counted in ragplane_ingestion_jobs


class Registry(Protocol):
    @property
    def backend(self) -> str:
        """Which store serves reads right now: json or postgres."""

    async def open(self) -> None: ...

    async def check(self) -> dict[str, Any]: ...

    async def list_collections(self) -> list[CollectionRecord]: ...

    async def get_collection(self, name: str) -> CollectionRecord | None: ...

    async def add_collection(self, record: CollectionRecord) -> None: ...

    async def remove_collection(self, name: str) -> CollectionRecord | None: ...

    async def documents(self, collection: str) -> dict[str, DocumentRecord]: ...

    async def put_documents(
        self,
        collection: str,
        records: Sequence[DocumentRecord],
        chunks: Mapping[str, Sequence[ChunkRecord]] | None = None,
    ) -> None: ...

    async def remove_documents(self, collection: str, ids: Sequence[str]) -> list[str]:
        """Remove documents (and their chunk rows); returns the ids that were there."""

    async def save_job(self, job: JobRecord) -> None: ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def jobs_to_recover(self) -> list[JobRecord]:
        """Jobs a stopped process left behind: queued or running, or failed with points to sweep."""
        ...

    async def list_jobs(
        self, *, state: str | None = None, collection: str | None = None, limit: int = 100
    ) -> list[JobRecord]: ...

    async def job_counts(self) -> dict[str, int]: ...

    async def close(self) -> None: ...

    async def ensure_writable(self) -> None:
        """Raise `DependencyUnavailable` when a change would be refused, before the caller touches Qdrant."""

    def describe(self) -> dict[str, Any]: ...


class Snapshot:
    """The whole registry in memory; replaced wholesale, never mutated in place."""

    def __init__(
        self,
        collections: dict[str, CollectionRecord],
        documents: dict[str, dict[str, DocumentRecord]],
        jobs: dict[str, JobRecord],
    ) -> None:
        self.collections = collections
        self.documents = documents
        self.jobs = jobs

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({}, {}, {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        collections: dict[str, CollectionRecord] = {}
        documents: dict[str, dict[str, DocumentRecord]] = {}
        for name, entry in data.get("collections", {}).items():
            collections[name] = CollectionRecord.from_json(entry["collection"])
            documents[name] = {d: DocumentRecord.from_json(v) for d, v in entry.get("documents", {}).items()}
        jobs = {j: JobRecord.from_json(v) for j, v in data.get("jobs", {}).items()}
        return cls(collections, documents, jobs)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "collections": {
                name: {
                    "collection": record.to_json(),
                    "documents": {d: doc.to_json() for d, doc in self.documents.get(name, {}).items()},
                }
                for name, record in self.collections.items()
            },
            "jobs": {j: job.to_json() for j, job in self.jobs.items()},
        }

    def copy(self) -> Snapshot:
        return Snapshot(dict(self.collections), dict(self.documents), dict(self.jobs))
