"""The engine for one Qdrant server: `qdrant-client` over HTTP (one of `QDRANT_URLS`).

The synchronous client runs on a small pool of the store's threads, for concurrent HTTP
calls. A collection's content version lives in its metadata; whether it has the sparse
vector is read from its config (and remembered: `version()`, which every search reads
first, refreshes it). In a cluster, a new collection asks for `copies`: its replication
factor and write consistency factor, so a write is acknowledged once that many replicas hold it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragplane.adapters.store_engine import (
    DENSE,
    DEPENDENCY,
    INDEXED_FIELDS,
    PREFETCH,
    SPARSE,
    Hit,
    Point,
    Records,
    stored_point,
)
from ragplane.errors import CollectionExists, CollectionNotFound, DependencyRejected, DependencyUnavailable
from ragplane.lexical import SparseVector

VERSION_KEY = "ragplane_version"
THREADS = 8
log = logging.getLogger("ragplane.qdrant")


class ServerEngine:
    mode: Literal["local", "server"] = "server"
    workers = THREADS
    reads_in_memory = False  # every read asks the server

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        client: QdrantClient | None = None,
        timeout_s: int = 10,
        copies: tuple[int, int] | None = None,
    ) -> None:
        """`client` replaces the HTTP client (tests pass qdrant-client's in-memory one: the same API)."""
        self.location = url
        parts = urlsplit(url)
        self.node = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"  # never a password
        self._api_key = api_key
        self._given = client
        self._timeout_s = timeout_s
        self._copies = copies
        self._client: QdrantClient | None = None
        self._has_sparse: dict[str, bool] = {}

    @property
    def client(self) -> QdrantClient:
        assert self._client is not None, "open() first"
        return self._client

    def open(self) -> None:
        self._client = self._given or QdrantClient(
            url=self.location, api_key=self._api_key, timeout=self._timeout_s, check_compatibility=False
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def translate(self, exc: Exception, collection: str | None) -> Exception:
        if isinstance(exc, UnexpectedResponse):
            if exc.status_code == 404 and collection is not None:
                return CollectionNotFound(collection)
            if exc.status_code is None or exc.status_code >= 500:
                return DependencyUnavailable(DEPENDENCY, f"HTTP {exc.status_code}", kind="server_error")
            log.warning("qdrant refused a request: HTTP %s %r", exc.status_code, exc.content[:500])
            if b"already exists" in exc.content:
                return CollectionExists(collection or "")
            return DependencyRejected(DEPENDENCY, f"HTTP {exc.status_code} (details in the service log)")
        if isinstance(exc, ResponseHandlingException):
            log.warning("qdrant at %s: %r", self.location, exc.source)
            timed_out = isinstance(exc.source, httpx.TimeoutException)
            return DependencyUnavailable(
                DEPENDENCY,
                "no answer in time" if timed_out else f"cannot reach the server ({type(exc.source).__name__})",
                kind="timeout" if timed_out else "unreachable",
            )
        # qdrant-client's in-process mode reports refusals as ValueError
        if collection is not None and "not found" in str(exc):
            return CollectionNotFound(collection)
        if "already exists" in str(exc):
            return CollectionExists(collection or "")
        log.warning("qdrant refused a request: %r", exc)
        return DependencyRejected(DEPENDENCY, "the request was refused (details in the service log)")

    def collections(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def create(self, name: str, dimension: int) -> None:
        replication, write_consistency = self._copies or (None, None)
        self.client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            replication_factor=replication,
            write_consistency_factor=write_consistency,
            metadata={VERSION_KEY: uuid.uuid4().hex},
        )
        for field in INDEXED_FIELDS:
            self.client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)

    def exists(self, name: str) -> bool:
        return self.client.collection_exists(name)

    def version(self, name: str) -> str:
        config = self.client.get_collection(name).config
        self._remember_layout(name, config)
        return str((config.metadata or {}).get(VERSION_KEY, ""))

    def touch(self, name: str) -> None:
        self.client.update_collection(name, metadata={VERSION_KEY: uuid.uuid4().hex})

    def drop(self, name: str) -> bool:
        self._has_sparse.pop(name, None)
        return bool(self.client.delete_collection(name))

    def _remember_layout(self, name: str, config: models.CollectionConfig) -> bool:
        has_sparse = SPARSE in (config.params.sparse_vectors or {})
        self._has_sparse[name] = has_sparse
        return has_sparse

    def _sparse_for(self, name: str, *, fresh: bool = False) -> bool:
        known = None if fresh else self._has_sparse.get(name)
        return known if known is not None else self._remember_layout(name, self.client.get_collection(name).config)

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        has_sparse = self._sparse_for(name, fresh=True)  # read per batch: the writer must not guess
        batch = [models.PointStruct(id=p.id, vector=_vectors(p, has_sparse), payload=p.payload) for p in points]
        self.client.upsert(name, points=batch, wait=True)

    def delete(self, name: str, match: dict[str, str], keep: dict[str, str]) -> None:
        where = models.Filter(must=_conditions(match), must_not=_conditions(keep) or None)
        self.client.delete(name, points_selector=models.FilterSelector(filter=where), wait=True)

    def search(self, name: str, vector: Sequence[float], limit: int, sparse: SparseVector | None) -> list[Hit]:
        if sparse is not None and sparse.indices and self._sparse_for(name):
            depth = max(limit, PREFETCH)
            response = self.client.query_points(
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
            response = self.client.query_points(name, query=list(vector), limit=limit, with_payload=True)
        return [Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in response.points]

    def scroll(
        self, name: str, *, match: dict[str, str], fields: list[str] | None, limit: int, offset: Any
    ) -> tuple[Records, Any]:
        conditions = _conditions(match)
        records, next_offset = self.client.scroll(
            name,
            scroll_filter=models.Filter(must=conditions) if conditions else None,
            limit=limit,
            offset=offset,
            with_payload=fields if fields is not None else True,
            with_vectors=False,
        )
        return [(str(r.id), dict(r.payload or {})) for r in records], next_offset

    def points(self, name: str, *, limit: int, offset: Any) -> tuple[list[Point], Any]:
        records, next_offset = self.client.scroll(
            name, limit=limit, offset=offset, with_payload=True, with_vectors=True
        )
        return [stored_point(r.id, r.vector, r.payload) for r in records], next_offset

    def count(self, name: str) -> int:
        return int(self.client.count(name, exact=True).count)

    def disk_bytes(self, name: str) -> int | None:
        return None  # a server reports its own


def _conditions(values: dict[str, str]) -> list[models.Condition]:
    return [models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in values.items()]


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _vectors(point: Point, has_sparse: bool) -> models.VectorStruct:
    if not has_sparse or point.sparse is None:
        return point.vector
    return {DENSE: point.vector, SPARSE: _sparse(point.sparse)}
