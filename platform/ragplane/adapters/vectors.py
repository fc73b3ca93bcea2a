"""The vector store: Qdrant in local mode (files under the data dir) or a Qdrant server.

Both modes use the synchronous `QdrantClient` on worker threads: local mode keeps its
state in SQLite and must stay on one thread (so it gets exactly one), the server mode
gets a small pool for concurrent HTTP calls. Either way the event loop never waits on
Qdrant. Library exceptions are translated to `ragplane.adapters.errors` here.

Collections are hybrid: the dense (unnamed) vector of the embedding model and a sparse
vector `bm25` of BM25 term weights (`ragplane.lexical`) whose IDF Qdrant applies
(`Modifier.IDF`). A search with a sparse query asks both and lets Qdrant fuse the two
result lists by their scores (distribution-based score fusion: each list's scores are
normalised by their mean and spread, then added), so a passage that shares the question's
rare words is found even when the embedding ranks it low, a paraphrase is found even when no
word matches, and a passage far ahead in one list is not levelled with the next one, as fusing
ranks alone would. Collections created before sparse vectors existed have only the dense vector:
whether a collection has `bm25` is read from its config, and those are searched and written
dense-only, as before.

Each service's view (`guarded()`) also records every call per node (count, latency,
reachability) in that service's registry, for the Qdrant dashboard: "node" is the server
address, or `local` in local mode.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.conversions.common_types import PointId
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragplane.adapters.errors import CollectionExists, CollectionNotFound, DependencyRejected, DependencyUnavailable
from ragplane.adapters.guarded import Guard
from ragplane.lexical import SparseVector
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

T = TypeVar("T")
VERSION_KEY = "ragplane_version"
log = logging.getLogger("ragplane.qdrant")
DEPENDENCY = "qdrant"
SERVER_THREADS = 8
SPARSE = "bm25"  # the sparse vector's name; the dense vector is the unnamed one
DENSE = ""
PREFETCH = 20  # candidates each ranking contributes to the fusion
JOB_FIELD = "job_id"  # the payload field naming the ingestion job that wrote a point
# Payload fields deletes and clean-ups filter on: a Qdrant server indexes them (local mode scans).
INDEXED_FIELDS = ("document_id", JOB_FIELD)


@dataclass(frozen=True)
class Point:
    id: str
    vector: list[float]
    payload: dict[str, Any]
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


class VectorStoreLocked(RuntimeError):
    """Another process already uses this local Qdrant directory."""


def _locked(lock_file: Path) -> bool:
    """Whether another client holds Qdrant local mode's exclusive lock on `lock_file`."""
    if not lock_file.exists():
        return False
    with lock_file.open("r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


class _Connection:
    """The client and its threads, shared by a store and its guarded views."""

    def __init__(self, workers: int, mode: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"qdrant-{mode}")
        self.client: QdrantClient | None = None
        self.has_sparse: dict[str, bool] = {}  # whether each collection has the sparse vector, from its config


class _NodeMetrics:
    """One service's view of one Qdrant node: calls by result, their latency, and whether it answers."""

    def __init__(self, metrics: ServiceMetrics, node: str) -> None:
        requests = metrics.counter(catalog.QDRANT_REQUESTS)
        requests.prime(node=node)
        self.node = node
        self.ok, self.error = requests.labels(node=node, result="ok"), requests.labels(node=node, result="error")
        self.duration = metrics.histogram(catalog.QDRANT_REQUEST_DURATION).labels(node=node)
        self.up = metrics.gauge(catalog.QDRANT_NODE_UP)  # its series appears with the first call, not as 0 (down)

    def record(self, started: float, *, reached: bool) -> None:
        self.duration.observe(time.perf_counter() - started)
        (self.ok if reached else self.error).inc()
        self.up.labels(node=self.node).set(1 if reached else 0)


class VectorStore:
    """One Qdrant client shared by the services of a process; `guarded()` gives each service
    a view whose calls go through that service's circuit breaker."""

    def __init__(self, *, path: Path | None = None, urls: Sequence[str] = (), api_key: str | None = None) -> None:
        if (path is None) == (not urls):
            raise ValueError("give either a local path or server URLs")
        self.path = path
        self.urls = tuple(urls)
        self.api_key = api_key
        self.mode: Literal["local", "server"] = "local" if path is not None else "server"
        self._conn = _Connection(1 if self.mode == "local" else SERVER_THREADS, self.mode)
        self._guard: Guard | None = None
        self._nodes: _NodeMetrics | None = None

    @classmethod
    def configured(cls, *, urls: Sequence[str], api_key: str | None, local_path: Path) -> VectorStore:
        """A Qdrant server client when `urls` are given (QDRANT_URLS), else local mode at `local_path`."""
        return cls(urls=urls, api_key=api_key) if urls else cls(path=local_path)

    @property
    def node(self) -> str:
        """The node calls go to, as the metrics name it."""
        return "local" if self.path is not None else urlsplit(self.urls[0]).netloc

    def guarded(self, guard: Guard, metrics: ServiceMetrics | None = None) -> VectorStore:
        """A view whose calls go through `guard` and are counted per node in `metrics`."""
        view = copy.copy(self)
        view._guard = guard
        view._nodes = _NodeMetrics(metrics, self.node) if metrics is not None else None
        return view

    def describe(self) -> dict[str, Any]:
        where = str(self.path) if self.path is not None else self.urls[0]
        return {"mode": self.mode, "location": where}

    async def open(self) -> None:
        """Create the client; in local mode this takes the directory's lock or fails clearly."""
        self._conn.client = await self._run_raw(self._connect)

    def _connect(self) -> QdrantClient:
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            # Probe Qdrant's own lock first: its client leaks the lock file when it finds it taken.
            if _locked(self.path / ".lock"):
                raise VectorStoreLocked(
                    f"{self.path} is in use by another ragplane process (Qdrant local mode allows one). "
                    "Stop it, choose another RAGPLANE_DATA_DIR, or point QDRANT_URLS at a Qdrant server."
                )
            return QdrantClient(path=str(self.path))
        # The node pool (several URLs, failover) builds on this client; one URL is used here.
        return QdrantClient(url=self.urls[0], api_key=self.api_key, timeout=10, check_compatibility=False)

    async def close(self) -> None:
        if self._conn.client is not None:
            client, self._conn.client = self._conn.client, None
            await self._run_raw(client.close)
        self._conn.executor.shutdown(wait=True)

    async def ping(self) -> dict[str, Any]:
        """Readiness: reachable or not, outside any breaker (whose state is reported separately)."""
        collections = await self._unguarded(lambda c: c.get_collections().collections)
        return {**self.describe(), "collections": len(collections)}

    async def create_collection(self, name: str, dimension: int) -> None:
        """Raises CollectionExists when Qdrant already has `name`."""

        def create(client: QdrantClient) -> None:
            client.create_collection(
                name,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                metadata={VERSION_KEY: uuid.uuid4().hex},
            )
            if self.mode == "server":
                for field in INDEXED_FIELDS:
                    client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)

        await self._call(create, collection=name)

    async def version(self, name: str) -> str:
        """The collection's content version: it changes whenever its points change (see `touch`).
        Raises CollectionNotFound, which makes it a cheap existence check too."""

        def read(client: QdrantClient) -> str:
            config = client.get_collection(name).config
            self._remember_layout(name, config)
            return str((config.metadata or {}).get(VERSION_KEY, ""))

        return await self._call(read, collection=name)

    async def touch(self, name: str) -> None:
        """Give the collection a new content version, so caches keyed by the old one miss."""
        metadata = {VERSION_KEY: uuid.uuid4().hex}
        await self._call(lambda c: c.update_collection(name, metadata=metadata), collection=name)

    async def delete_collection(self, name: str) -> bool:
        self._conn.has_sparse.pop(name, None)
        return await self._call(lambda c: bool(c.delete_collection(name)))

    def _remember_layout(self, name: str, config: models.CollectionConfig) -> bool:
        has_sparse = SPARSE in (config.params.sparse_vectors or {})
        self._conn.has_sparse[name] = has_sparse
        return has_sparse

    def _has_sparse(self, client: QdrantClient, name: str, *, fresh: bool = False) -> bool:
        """From the cache (`version()`, which every search reads first, refreshes it), else the config."""
        known = None if fresh else self._conn.has_sparse.get(name)
        return known if known is not None else self._remember_layout(name, client.get_collection(name).config)

    async def collection_exists(self, name: str) -> bool:
        return await self._call(lambda c: c.collection_exists(name))

    async def upsert(self, name: str, points: Sequence[Point]) -> None:
        """Sparse parts are written where the collection has the sparse vector, dropped elsewhere."""

        def write(client: QdrantClient) -> None:
            has_sparse = self._has_sparse(client, name, fresh=True)  # read per batch: the writer must not guess
            batch = [models.PointStruct(id=p.id, vector=_vectors(p, has_sparse), payload=p.payload) for p in points]
            client.upsert(name, points=batch, wait=True)

        await self._call(write, collection=name)

    async def delete_document(self, name: str, document_id: str, *, keep_version: str | None = None) -> None:
        """Remove a document's points, except those of `keep_version` (its current content hash)."""
        match = models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
        keep = models.FieldCondition(key="content_hash", match=models.MatchValue(value=keep_version or ""))
        selector = models.FilterSelector(filter=models.Filter(must=[match], must_not=[keep] if keep_version else None))
        await self._call(lambda c: c.delete(name, points_selector=selector, wait=True), collection=name)

    async def search(
        self, name: str, vector: Sequence[float], limit: int, *, sparse: SparseVector | None = None
    ) -> list[Hit]:
        """The `limit` best points: by score fusion of the dense and the sparse results when `sparse`
        has terms and the collection is hybrid (scores are then fusion scores, not similarities),
        else by cosine similarity."""

        def query(client: QdrantClient) -> list[Hit]:
            if sparse is not None and sparse.indices and self._has_sparse(client, name):
                depth = max(limit, PREFETCH)
                response = client.query_points(
                    name,
                    prefetch=[
                        models.Prefetch(query=list(vector), limit=depth),
                        models.Prefetch(query=_sparse(sparse), using=SPARSE, limit=depth),
                    ],
                    query=models.FusionQuery(fusion=models.Fusion.DBSF),
                    limit=limit,
                    with_payload=True,
                )
            else:
                response = client.query_points(name, query=list(vector), limit=limit, with_payload=True)
            return [Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in response.points]

        return await self._call(query, collection=name)

    async def payload_pages(
        self, name: str, *, page: int = 256, match: dict[str, str] | None = None, fields: list[str] | None = None
    ) -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
        """Every point's (id, payload) in `name`, one page of at most `page` points at a time.

        No vectors are read, and only one page is held at a time, so memory stays bounded
        however big the collection. Points written meanwhile may or may not be seen.
        `match` keeps only points whose payload has those values; `fields` reads only those.
        Raises CollectionNotFound.
        """
        if page < 1:
            raise ValueError("page must be at least 1")
        conditions = [models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in (match or {}).items()]
        where = models.Filter(must=list(conditions)) if conditions else None
        payload: bool | list[str] = fields if fields is not None else True
        offset: PointId | None = None
        while True:

            def read(
                client: QdrantClient, start: PointId | None = offset
            ) -> tuple[list[models.Record], PointId | None]:
                return client.scroll(
                    name, scroll_filter=where, limit=page, offset=start, with_payload=payload, with_vectors=False
                )

            records, offset = await self._call(read, collection=name)
            if records:
                yield [(str(r.id), dict(r.payload or {})) for r in records]
            if offset is None:
                return

    async def count(self, name: str) -> int:
        return await self._call(lambda c: int(c.count(name, exact=True).count), collection=name)

    async def disk_bytes(self, name: str) -> int | None:
        """Bytes on disk for a collection in local mode; None for a server (it does not report it)."""
        if self.path is None:
            return None
        root = self.path / "collection" / name
        return await self._run_raw(lambda: sum(f.stat().st_size for f in root.rglob("*") if f.is_file()))

    async def _run_raw(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._conn.executor, fn)

    async def _call(self, fn: Callable[[QdrantClient], T], *, collection: str | None = None) -> T:
        if self._guard is None:
            return await self._unguarded(fn, collection=collection)
        return await self._guard.call(lambda: self._unguarded(fn, collection=collection))

    async def _unguarded(self, fn: Callable[[QdrantClient], T], *, collection: str | None = None) -> T:
        started = time.perf_counter()
        try:
            result = await self._translated(fn, collection=collection)
        except DependencyUnavailable:
            self._record(started, reached=False)
            raise
        except (CollectionNotFound, CollectionExists, DependencyRejected):
            self._record(started, reached=True)  # an answer, if not the one hoped for
            raise
        except asyncio.CancelledError:
            # Mostly the breaker's call timeout cutting off a node that does not answer: the case
            # the node metrics exist for (a client hanging up early counts too, rarely).
            self._record(started, reached=False)
            raise
        self._record(started, reached=True)
        return result

    def _record(self, started: float, *, reached: bool) -> None:
        if self._nodes is not None:
            self._nodes.record(started, reached=reached)

    async def _translated(self, fn: Callable[[QdrantClient], T], *, collection: str | None = None) -> T:
        client = self._conn.client
        if client is None:
            raise DependencyUnavailable(DEPENDENCY, "the vector store is not open")
        try:
            return await self._run_raw(functools.partial(fn, client))
        except UnexpectedResponse as exc:
            if exc.status_code == 404 and collection is not None:
                raise CollectionNotFound(collection) from exc
            if exc.status_code is None or exc.status_code >= 500:
                raise DependencyUnavailable(DEPENDENCY, f"HTTP {exc.status_code}", kind="server_error") from exc
            log.warning("qdrant refused a request: HTTP %s %r", exc.status_code, exc.content[:500])
            if b"already exists" in exc.content:
                raise CollectionExists(collection or "") from exc
            raise DependencyRejected(DEPENDENCY, f"HTTP {exc.status_code} (details in the service log)") from exc
        except ResponseHandlingException as exc:
            log.warning("qdrant at %s: %r", self.urls[0], exc.source)
            timed_out = isinstance(exc.source, httpx.TimeoutException)
            raise DependencyUnavailable(
                DEPENDENCY,
                "no answer in time" if timed_out else f"cannot reach the server ({type(exc.source).__name__})",
                kind="timeout" if timed_out else "unreachable",
            ) from exc
        except ValueError as exc:  # local mode reports its refusals as ValueError
            if collection is not None and "not found" in str(exc):
                raise CollectionNotFound(collection) from exc
            if "already exists" in str(exc):
                raise CollectionExists(collection or "") from exc
            log.warning("qdrant refused a request: %s", exc)
            raise DependencyRejected(DEPENDENCY, "the request was refused (details in the service log)") from exc


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _vectors(point: Point, has_sparse: bool) -> models.VectorStruct:
    if not has_sparse or point.sparse is None:
        return point.vector
    return {DENSE: point.vector, SPARSE: _sparse(point.sparse)}
