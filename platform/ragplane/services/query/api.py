"""Search and Q&A handlers.

Both run the same retrieval: embed the query (through a small LRU cache, since users
repeat themselves), search Qdrant, and report each stage as a span and a histogram.
Q&A then hands the numbered passages to the answerer and returns its cited sentences
alongside the passages they cite.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import Tracer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ragplane.adapters.answerers import Answerer, Passage
from ragplane.adapters.embedders import Embedder
from ragplane.adapters.errors import CollectionNotFound
from ragplane.adapters.vectors import Hit, VectorStore
from ragplane.kit.cache import LruCache
from ragplane.kit.requests import read_json_object
from ragplane.kit.tracing import stage
from ragplane.kit.versioning import ApiRoute
from ragplane.services.query import schemas
from ragplane.services.query.validation import SearchRequest, from_body, from_query_params
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import BoundedLabel, ServiceMetrics

QUERY_BODY_LIMIT = 64 * 1024
COLLECTION_LABELS = 500


def _result(hit: Hit) -> dict[str, Any]:
    p = hit.payload
    return {
        "score": round(hit.score, 6),
        "document_id": p.get("document_id"),
        "title": p.get("title"),
        "text": p.get("text"),
        "section": p.get("section", ""),
        "chunk_index": p.get("chunk_index"),
        "source": p.get("source"),
    }


class QueryApi:
    def __init__(
        self,
        *,
        embedder: Embedder,
        store: VectorStore,
        answerer: Answerer,
        metrics: ServiceMetrics,
        tracer: Tracer,
        default_collection: str,
        cache_size: int = 1024,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.answerer = answerer
        self.tracer = tracer
        self.default_collection = default_collection
        self.embeddings: LruCache[str, list[float]] = LruCache(cache_size)
        self.embedding_duration = metrics.histogram(catalog.EMBEDDING_DURATION).labels(embedder=embedder.name)
        self.answer_duration = metrics.histogram(catalog.ANSWER_DURATION).labels(answerer=answerer.name)
        self.search_duration = metrics.histogram(catalog.VECTOR_SEARCH_DURATION)
        self.result_counts = metrics.histogram(catalog.SEARCH_RESULTS)
        self.collection_label = BoundedLabel(COLLECTION_LABELS)

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute("GET", "/rag/search", self.search, "Semantic search over a collection", schemas.SEARCH),
            ApiRoute(
                "POST", "/rag/query", self.query, "Answer a question from a collection, citing sources", schemas.QUERY
            ),
        ]

    async def search(self, request: Request) -> Response:
        started = time.perf_counter()
        req = from_query_params(request.query_params, default_collection=self.default_collection)
        _, hits = await self._retrieve(req)
        return JSONResponse(
            {
                "query": req.query,
                "collection": req.collection,
                "max_results": req.max_results,
                "results": [_result(h) for h in hits],
                "took_ms": _since(started),
            }
        )

    async def query(self, request: Request) -> Response:
        started = time.perf_counter()
        body = await read_json_object(request, QUERY_BODY_LIMIT)
        req = from_body(body, default_collection=self.default_collection)
        vector, hits = await self._retrieve(req)
        passages = [
            Passage(
                number=i,
                document_id=str(h.payload.get("document_id", "")),
                title=str(h.payload.get("title", "")),
                text=str(h.payload.get("text", "")),
                score=h.score,
                section=str(h.payload.get("section", "")),
            )
            for i, h in enumerate(hits, start=1)
        ]
        with stage(self.tracer, "answer", self.answer_duration, answerer=self.answerer.name):
            answer = await self.answerer.answer(req.query, passages, vector)
        return JSONResponse(
            {
                "query": req.query,
                "collection": req.collection,
                "answer": answer.text,
                "grounded": answer.grounded,
                "citations": [{"text": c.text, "sources": list(c.sources)} for c in answer.citations],
                "sources": [{"id": p.number, **_result(h)} for p, h in zip(passages, hits, strict=True)],
                "answerer": answer.answerer,
                "max_results": req.max_results,
                "took_ms": _since(started),
            }
        )

    async def _embed_query(self, text: str) -> list[float]:
        cached = self.embeddings.get(text)
        if cached is not None:
            return cached
        with stage(self.tracer, "embed", self.embedding_duration, embedder=self.embedder.name, texts=1):
            vector = (await self.embedder.embed([text]))[0]
        self.embeddings.put(text, vector)
        return vector

    async def _retrieve(self, req: SearchRequest) -> tuple[Sequence[float], list[Hit]]:
        vector = await self._embed_query(req.query)
        started = time.perf_counter()
        try:
            with stage(self.tracer, "vector_search", collection=req.collection, limit=req.max_results):
                hits = await self.store.search(req.collection, vector, req.max_results)
        except CollectionNotFound:
            if self.collection_label.release(req.collection):  # deleted since: drop its series
                for family in (self.search_duration, self.result_counts):
                    family.forget(collection=req.collection)
            raise
        # Labelled only after Qdrant knows the collection, so probing random names adds no series.
        label = self.collection_label(req.collection)
        self.search_duration.labels(collection=label).observe(time.perf_counter() - started)
        self.result_counts.labels(collection=label).observe(len(hits))
        return vector, hits


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
