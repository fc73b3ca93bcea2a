"""What the vector store asks of an engine, and the values that cross that line.

An engine is synchronous: `VectorStore` runs its calls on worker threads (`workers` of them)
and expects `ragplane.errors` from it, turning anything else into one through the
engine's own `translate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ragplane.lexical import SparseVector

DEPENDENCY = "qdrant"
SPARSE = "bm25"  # the sparse vector's name; the dense vector is the unnamed one
DENSE = ""
PREFETCH = 20  # candidates each ranking contributes to the fusion
JOB_FIELD = "job_id"  # the payload field naming the ingestion job that wrote a point
# Payload fields deletes and clean-ups filter on: both engines index them.
INDEXED_FIELDS = ("document_id", JOB_FIELD)
# A page of scrolled points: (id, payload) each.
Records = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Point:
    id: str
    vector: list[float]
    payload: dict[str, Any]
    sparse: SparseVector | None = None


def stored_point(point_id: Any, vectors: Any, payload: dict[str, Any] | None) -> Point:
    """A point as an engine read it back: `vectors` the unnamed dense one, or a mapping of the
    dense one (`DENSE`) and the sparse one (`SPARSE`, with `indices` and `values`)."""
    named = vectors if isinstance(vectors, dict) else {DENSE: vectors}
    sparse = named.get(SPARSE)
    return Point(
        id=str(point_id),
        vector=[float(x) for x in named[DENSE]],
        payload=dict(payload or {}),
        sparse=None if sparse is None else SparseVector(tuple(sparse.indices), tuple(sparse.values)),
    )


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


class Engine(Protocol):
    mode: Literal["local", "server"]
    node: str  # as the per-node metrics name it
    location: str  # a directory or a URL, for readiness and messages
    workers: int  # threads the store may call it from at once
    # Whether version() and exists() answer from memory without blocking: the store then calls
    # them on the event loop, sparing a cached search the hop to a worker thread and back.
    reads_in_memory: bool

    def open(self) -> None: ...
    def close(self) -> None: ...
    def translate(self, exc: Exception, collection: str | None) -> Exception:
        """The `ragplane.errors` exception that stands for the library's `exc`."""
        ...

    def collections(self) -> list[str]: ...
    def create(self, name: str, dimension: int) -> None: ...
    def exists(self, name: str) -> bool: ...
    def version(self, name: str) -> str: ...
    def touch(self, name: str) -> None: ...
    def drop(self, name: str) -> bool: ...
    def upsert(self, name: str, points: Sequence[Point]) -> None: ...
    def delete(self, name: str, match: dict[str, str], keep: dict[str, str]) -> None:
        """Remove points whose payload has all of `match`'s values and none of `keep`'s."""
        ...

    def search(self, name: str, vector: Sequence[float], limit: int, sparse: SparseVector | None) -> list[Hit]: ...
    def scroll(
        self, name: str, *, match: dict[str, str], fields: list[str] | None, limit: int, offset: Any
    ) -> tuple[Records, Any]: ...
    def points(self, name: str, *, limit: int, offset: Any) -> tuple[list[Point], Any]:
        """A page of whole points (vectors and payload), for a backup; the next page's offset."""
        ...

    def count(self, name: str) -> int: ...
    def disk_bytes(self, name: str) -> int | None: ...
