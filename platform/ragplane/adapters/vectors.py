"""The vector store: Qdrant's engine in-process (files under the data dir) or a Qdrant server.

One `VectorStore` fronts two engines with the same calls: `EmbeddedEngine` (Qdrant Edge, the
engine of a Qdrant server as a library: segments, WAL, payload indexes, on disk) and
`ServerEngine` (`qdrant-client` over HTTP, `QDRANT_URLS`). Engines are synchronous and run on
this store's worker threads, so the event loop never waits on Qdrant; each one turns its own
library's exceptions into `ragplane.errors`.

Collections are hybrid: the dense (unnamed) vector of the embedding model and a sparse
vector `bm25` of BM25 term weights (`ragplane.lexical`) whose IDF Qdrant applies
(`Modifier.IDF`). A search with a sparse query asks both and lets Qdrant fuse the two
result lists by their scores (distribution-based score fusion: each list's scores are
normalised by their mean and spread, then added), so a passage that shares the question's
rare words is found even when the embedding ranks it low, a paraphrase is found even when no
word matches, and a passage far ahead in one list is not levelled with the next one, as fusing
ranks alone would. Collections created before sparse vectors existed have only the dense vector:
those are searched and written dense-only, as before.

Several `QDRANT_URLS` make a node pool (`ragplane.adapters.node_pool`): each call goes to a
healthy node, and one that gets no answer from its node is tried once more on another — every
call but creating a collection, the one that is not idempotent (an upsert names its point ids,
a delete its filter). Each service's view (`guarded()`) records every call per node (count,
latency, reachability, failovers) in that service's registry, for the Qdrant dashboard: "node" is
the server's host:port, or `local` for the embedded engine.
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
from ragplane.adapters.guarded import Guard
from ragplane.adapters.node_pool import Node, NodePool
from ragplane.adapters.server_store import ServerEngine
from ragplane.adapters.store_engine import DEPENDENCY, JOB_FIELD, SPARSE, Engine, Hit, Point
from ragplane.errors import (
    CollectionExists,
    CollectionNotFound,
    DependencyRejected,
    DependencyUnavailable,
    VectorStoreLocked,
)
from ragplane.lexical import SparseVector
from ragplane.settings import QdrantSettings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

__all__ = ["JOB_FIELD", "SPARSE", "Hit", "Point", "VectorStore", "VectorStoreLocked"]

T = TypeVar("T")
_OWN_ERRORS = (CollectionNotFound, CollectionExists, DependencyRejected, DependencyUnavailable)


class _NodeMetrics:
    """One service's view of the pool's nodes: calls by result, their latency, failovers, and
    whether each node answers (its series appears with the first call or probe, not as 0: down)."""

    def __init__(self, metrics: ServiceMetrics, pool: NodePool) -> None:
        requests = metrics.counter(catalog.QDRANT_REQUESTS)
        failovers = metrics.counter(catalog.QDRANT_FAILOVERS)
        duration = metrics.histogram(catalog.QDRANT_REQUEST_DURATION)
        self._ok, self._error, self._duration, self._failovers = {}, {}, {}, {}
        for node in pool.nodes:
            requests.prime(node=node.name)
            self._ok[node.name] = requests.labels(node=node.name, result="ok")
            self._error[node.name] = requests.labels(node=node.name, result="error")
            self._duration[node.name] = duration.labels(node=node.name)
            self._failovers[node.name] = failovers.labels(node=node.name)
        up = metrics.gauge(catalog.QDRANT_NODE_UP)
        pool.listen(lambda node, answered: up.labels(node=node).set(1 if answered else 0))

    def record(self, node: Node, started: float, *, reached: bool) -> None:
        self._duration[node.name].observe(time.perf_counter() - started)
        (self._ok if reached else self._error)[node.name].inc()

    def failed_over(self, node: Node) -> None:
        self._failovers[node.name].inc()


class _Shared:
    """The nodes and their threads, shared by a store and its guarded views."""

    def __init__(self, pool: NodePool) -> None:
        self.pool = pool
        self.engine = pool.nodes[0].engine  # what every node is: local or server, in memory or not
        workers = sum(node.engine.workers for node in pool.nodes)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"qdrant-{self.engine.mode}")
        self.open = False


class VectorStore:
    """One engine shared by the services of a process; `guarded()` gives each service a view
    whose calls go through that service's circuit breaker."""

    def __init__(
        self, *, path: Path | None = None, qdrant: QdrantSettings | None = None, engines: Sequence[Engine] = ()
    ) -> None:
        """The embedded engine at `path`, or the Qdrant servers `qdrant.urls`, or given `engines`
        (with `qdrant`'s pool settings)."""
        options = qdrant or QdrantSettings()
        if [path is not None, bool(options.urls), bool(engines)].count(True) != 1:
            raise ValueError("give one of a local path, server URLs or engines")
        api_key = options.api_key.get_secret_value() if options.api_key else None
        if path is not None:
            engines = [EmbeddedEngine(path)]
        elif options.urls:
            copies = options.copies()
            engines = [ServerEngine(url, api_key, timeout_s=options.timeout_s, copies=copies) for url in options.urls]
        self.path = path
        pool = NodePool(engines, probe_interval_s=options.probe_interval_s, api_key=api_key)
        self._shared = _Shared(pool)
        self._guard: Guard | None = None
        self._nodes: _NodeMetrics | None = None

    @classmethod
    def configured(cls, qdrant: QdrantSettings, local_path: Path) -> VectorStore:
        """The store the services use: the Qdrant servers when QDRANT_URLS is set, else the
        embedded engine at `local_path`."""
        return cls(qdrant=qdrant) if qdrant.urls else cls(path=local_path)

    @property
    def mode(self) -> Literal["local", "server"]:
        return self._shared.engine.mode

    def guarded(self, guard: Guard, metrics: ServiceMetrics | None = None) -> VectorStore:
        """A view whose calls go through `guard` and are counted per node in `metrics`."""
        view = copy.copy(self)
        view._guard = guard
        view._nodes = _NodeMetrics(metrics, self._shared.pool) if metrics is not None else None
        return view

    def describe(self) -> dict[str, Any]:
        location = ",".join(node.engine.location for node in self._shared.pool.nodes)
        return {"mode": self.mode, "location": location, **self._shared.pool.describe()}

    async def open(self) -> None:
        """Open the engines: the embedded one takes its directory's lock (or fails clearly) and
        upgrades data an older ragplane wrote; a server one makes its client. Several nodes are
        probed from now on."""
        for node in self._shared.pool.nodes:
            await self._run_raw(node.engine.open)
        self._shared.open = True
        self._shared.pool.start()

    async def close(self) -> None:
        if self._shared.open:
            self._shared.open = False
            await self._shared.pool.stop()
            for node in self._shared.pool.nodes:
                await self._run_raw(node.engine.close)
        self._shared.executor.shutdown(wait=True)

    async def ping(self) -> dict[str, Any]:
        """Readiness: reachable or not (any node, for a pool), outside any breaker (whose state is
        reported separately)."""
        collections = await self._unguarded(lambda e: e.collections())
        return {**self.describe(), "collections": len(collections)}

    async def create_collection(self, name: str, dimension: int) -> None:
        """Raises CollectionExists when Qdrant already has `name`. Not retried on another node: a
        create whose answer was lost may have happened."""
        await self._call(lambda e: e.create(name, dimension), collection=name, retry=False)

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

    async def _call(
        self, fn: Callable[[Engine], T], *, collection: str | None = None, inline: bool = False, retry: bool = True
    ) -> T:
        """`fn(engine)` on a worker thread, or on the event loop when `inline` (it must not block)."""
        if self._guard is None:
            return await self._unguarded(fn, collection=collection, inline=inline, retry=retry)
        return await self._guard.call(lambda: self._unguarded(fn, collection=collection, inline=inline, retry=retry))

    async def _unguarded(
        self, fn: Callable[[Engine], T], *, collection: str | None = None, inline: bool = False, retry: bool = True
    ) -> T:
        """On the pool's next node; once more on another when that one gave no answer and `retry`.

        A pool's "no such collection" is checked on another node too before it is believed: a
        cluster creates a collection on each node a moment apart (Raft applies it node by node)."""
        pool = self._shared.pool
        node = pool.choose()
        assert node is not None
        try:
            return await self._on(node, fn, collection=collection, inline=inline)
        except DependencyUnavailable:
            other = pool.choose(avoid=node) if retry else None
            if other is None:
                raise
            if self._nodes is not None:
                self._nodes.failed_over(node)
        except CollectionNotFound:
            other = pool.choose(avoid=node) if retry else None
            if other is None:
                raise
        return await self._on(other, fn, collection=collection, inline=inline)

    async def _on(self, node: Node, fn: Callable[[Engine], T], *, collection: str | None, inline: bool) -> T:
        started = time.perf_counter()
        try:
            result = await self._translated(node.engine, fn, collection=collection, inline=inline)
        except DependencyUnavailable:
            self._record(node, started, reached=False)
            raise
        except (CollectionNotFound, CollectionExists, DependencyRejected):
            self._record(node, started, reached=True)  # an answer, if not the one hoped for
            raise
        except asyncio.CancelledError:
            # Mostly the breaker's call timeout cutting off a node that does not answer: the case
            # the node metrics exist for (a client hanging up early counts too, rarely). A pool's
            # probes judge its nodes, so a caller that gave up does not mark one down.
            self._record(node, started, reached=False, judged=not self._shared.pool.pooled)
            raise
        self._record(node, started, reached=True)
        return result

    def _record(self, node: Node, started: float, *, reached: bool, judged: bool = True) -> None:
        if judged:
            self._shared.pool.observe(node, reached)
        if self._nodes is not None:
            self._nodes.record(node, started, reached=reached)

    async def _translated(
        self, engine: Engine, fn: Callable[[Engine], T], *, collection: str | None, inline: bool
    ) -> T:
        if not self._shared.open:
            raise DependencyUnavailable(DEPENDENCY, "the vector store is not open")
        try:
            return fn(engine) if inline else await self._run_raw(functools.partial(fn, engine))
        except _OWN_ERRORS:
            raise
        except Exception as exc:
            raise engine.translate(exc, collection) from exc
