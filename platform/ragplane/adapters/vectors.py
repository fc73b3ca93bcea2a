"""The vector store: Qdrant's engine in-process (files under the data dir) or a Qdrant server.

One `VectorStore` fronts two engines with the same calls: `EmbeddedEngine` (Qdrant Edge, the
engine of a Qdrant server as a library: segments, WAL, payload indexes, on disk) and
`ServerEngine` (`qdrant-client` over HTTP, `QDRANT_URLS`). Engines are synchronous and run on
this store's worker threads, so the event loop never waits on Qdrant; each one turns its own
library's exceptions into `ragplane.adapters.errors`.

Collections are hybrid: the dense (unnamed) vector of the embedding model and a sparse
vector `bm25` of BM25 term weights (`ragplane.lexical`) whose IDF Qdrant applies
(`Modifier.IDF`). A search with a sparse query asks both and lets Qdrant fuse the two
result lists by their scores (distribution-based score fusion: each list's scores are
normalised by their mean and spread, then added), so a passage that shares the question's
rare words is found even when the embedding ranks it low, a paraphrase is found even when no
word matches, and a passage far ahead in one list is not levelled with the next one, as fusing
ranks alone would. Collections created before sparse vectors existed have only the dense vector:
those are searched and written dense-only, as before.

Each service's view (`guarded()`) also records every call per node (count, latency,
reachability) in that service's registry, for the Qdrant dashboard: "node" is the server
address, or `local` for the embedded engine.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from ragplane.adapters.embedded_store import EmbeddedEngine
from ragplane.adapters.errors import CollectionExists, CollectionNotFound, DependencyRejected, DependencyUnavailable
from ragplane.adapters.guarded import Guard
from ragplane.adapters.server_store import ServerEngine
from ragplane.adapters.store_engine import DEPENDENCY, JOB_FIELD, SPARSE, Engine, Hit, Point, VectorStoreLocked
from ragplane.lexical import SparseVector
from ragplane.settings import Settings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

__all__ = ["JOB_FIELD", "SPARSE", "Hit", "Point", "VectorStore", "VectorStoreLocked"]

T = TypeVar("T")
_OWN_ERRORS = (CollectionNotFound, CollectionExists, DependencyRejected, DependencyUnavailable)


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


class _Shared:
    """The engine and its threads, shared by a store and its guarded views."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.executor = ThreadPoolExecutor(max_workers=engine.workers, thread_name_prefix=f"qdrant-{engine.mode}")
        self.open = False


class VectorStore:
    """One engine shared by the services of a process; `guarded()` gives each service a view
    whose calls go through that service's circuit breaker."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        urls: Sequence[str] = (),
        api_key: str | None = None,
        engine: Engine | None = None,
    ) -> None:
        """The embedded engine at `path`, or a Qdrant server at `urls`, or a given `engine`."""
        if [path is not None, bool(urls), engine is not None].count(True) != 1:
            raise ValueError("give one of a local path, server URLs or an engine")
        if path is not None:
            engine = EmbeddedEngine(path)
        elif urls:
            engine = ServerEngine(urls[0], api_key)
        assert engine is not None
        self.path = path
        self._shared = _Shared(engine)
        self._guard: Guard | None = None
        self._nodes: _NodeMetrics | None = None

    @classmethod
    def configured(cls, settings: Settings) -> VectorStore:
        """The store the services use: a Qdrant server when QDRANT_URLS is set, else the embedded engine."""
        if settings.qdrant_urls:
            return cls(urls=settings.qdrant_urls, api_key=settings.qdrant_api_key)
        return cls(path=settings.qdrant_path)

    @property
    def mode(self) -> Literal["local", "server"]:
        return self._shared.engine.mode

    @property
    def node(self) -> str:
        """The node calls go to, as the metrics name it."""
        return self._shared.engine.node

    def guarded(self, guard: Guard, metrics: ServiceMetrics | None = None) -> VectorStore:
        """A view whose calls go through `guard` and are counted per node in `metrics`."""
        view = copy.copy(self)
        view._guard = guard
        view._nodes = _NodeMetrics(metrics, self.node) if metrics is not None else None
        return view

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "location": self._shared.engine.location}

    async def open(self) -> None:
        """Open the engine: the embedded one takes its directory's lock (or fails clearly) and
        upgrades data an older ragplane wrote; the server one makes its client."""
        await self._run_raw(self._shared.engine.open)
        self._shared.open = True

    async def close(self) -> None:
        if self._shared.open:
            self._shared.open = False
            await self._run_raw(self._shared.engine.close)
        self._shared.executor.shutdown(wait=True)

    async def ping(self) -> dict[str, Any]:
        """Readiness: reachable or not, outside any breaker (whose state is reported separately)."""
        collections = await self._unguarded(lambda e: e.collections())
        return {**self.describe(), "collections": len(collections)}

    async def create_collection(self, name: str, dimension: int) -> None:
        """Raises CollectionExists when Qdrant already has `name`."""
        await self._call(lambda e: e.create(name, dimension), collection=name)

    async def version(self, name: str) -> str:
        """The collection's content version: it changes whenever its points change (see `touch`).
        Raises CollectionNotFound, which makes it a cheap existence check too."""
        return await self._call(lambda e: e.version(name), collection=name, inline=self._shared.engine.reads_in_memory)

    async def touch(self, name: str) -> None:
        """Give the collection a new content version, so caches keyed by the old one miss."""
        await self._call(lambda e: e.touch(name), collection=name)

    async def delete_collection(self, name: str) -> bool:
        return await self._call(lambda e: e.drop(name))

    async def collection_exists(self, name: str) -> bool:
        return await self._call(lambda e: e.exists(name), inline=self._shared.engine.reads_in_memory)

    async def upsert(self, name: str, points: Sequence[Point]) -> None:
        """Sparse parts are written where the collection has the sparse vector, dropped elsewhere."""
        await self._call(lambda e: e.upsert(name, points), collection=name)

    async def delete_document(self, name: str, document_id: str, *, keep_version: str | None = None) -> None:
        """Remove a document's points, except those of `keep_version` (its current content hash)."""
        keep = {"content_hash": keep_version} if keep_version else {}
        await self._call(lambda e: e.delete(name, {"document_id": document_id}, keep), collection=name)

    async def search(
        self, name: str, vector: Sequence[float], limit: int, *, sparse: SparseVector | None = None
    ) -> list[Hit]:
        """The `limit` best points: by score fusion of the dense and the sparse results when `sparse`
        has terms and the collection is hybrid (scores are then fusion scores, not similarities),
        else by cosine similarity."""
        return await self._call(lambda e: e.search(name, vector, limit, sparse), collection=name)

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
        offset: Any = None
        while True:

            def read(engine: Engine, start: Any = offset) -> tuple[list[tuple[str, dict[str, Any]]], Any]:
                return engine.scroll(name, match=match or {}, fields=fields, limit=page, offset=start)

            records, offset = await self._call(read, collection=name)
            if records:
                yield records
            if offset is None:
                return

    async def point_pages(self, name: str, *, page: int = 256) -> AsyncIterator[list[Point]]:
        """Every point of `name` whole — id, dense and sparse vectors, payload — a page at a time,
        for a backup. Points written meanwhile may or may not be seen. Raises CollectionNotFound."""
        if page < 1:
            raise ValueError("page must be at least 1")
        offset: Any = None
        while True:

            def read(engine: Engine, start: Any = offset) -> tuple[list[Point], Any]:
                return engine.points(name, limit=page, offset=start)

            points, offset = await self._call(read, collection=name)
            if points:
                yield points
            if offset is None:
                return

    async def count(self, name: str) -> int:
        return await self._call(lambda e: e.count(name), collection=name)

    async def disk_bytes(self, name: str) -> int | None:
        """Bytes on disk for a collection of the embedded engine; None for a server (it does not report it)."""
        return await self._run_raw(lambda: self._shared.engine.disk_bytes(name))

    async def _run_raw(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._shared.executor, fn)

    async def _call(self, fn: Callable[[Engine], T], *, collection: str | None = None, inline: bool = False) -> T:
        """`fn(engine)` on a worker thread, or on the event loop when `inline` (it must not block)."""
        if self._guard is None:
            return await self._unguarded(fn, collection=collection, inline=inline)
        return await self._guard.call(lambda: self._unguarded(fn, collection=collection, inline=inline))

    async def _unguarded(self, fn: Callable[[Engine], T], *, collection: str | None = None, inline: bool = False) -> T:
        started = time.perf_counter()
        try:
            result = await self._translated(fn, collection=collection, inline=inline)
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

    async def _translated(self, fn: Callable[[Engine], T], *, collection: str | None, inline: bool) -> T:
        engine = self._shared.engine
        if not self._shared.open:
            raise DependencyUnavailable(DEPENDENCY, "the vector store is not open")
        try:
            return fn(engine) if inline else await self._run_raw(functools.partial(fn, engine))
        except _OWN_ERRORS:
            raise
        except Exception as exc:
            raise engine.translate(exc, collection) from exc
