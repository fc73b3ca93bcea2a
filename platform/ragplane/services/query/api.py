"""Search and Q&A handlers.

Both run the same retrieval. The collection's content version comes first (a missing
collection is a 404 before any model work); a search-result cache keyed by collection,
version, query and max_results answers repeated searches outright, and is invalidated by
any change to the collection because the version changes. Otherwise the query is embedded
(through the query-embedding cache, then the micro-batcher) and Qdrant searched with both
the embedding and the query's BM25 terms, the two rankings fused by Qdrant (dense only for
a collection without sparse vectors); each stage is a span. Q&A hands the numbered
passages to the answerer; when a generating answerer (the LLM) is unavailable or its
breaker open, the extractive answer is returned instead, marked `degraded` with the reason.

With a query log, each valid request leaves one entry (collection, query, result count,
latency, cache hit, degraded, the status the client got, trace id); `record()` only
appends to a buffer, so logging adds no I/O to the request. Requests refused by
validation are not logged: they asked nothing of a collection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.trace import Tracer
from starlette.requests import Request
from starlette.responses import Response

from ragplane.adapters.answerers import Answer, Answerer, Passage
from ragplane.adapters.cache import Cache
from ragplane.adapters.embedders import Embedder
from ragplane.adapters.querylog import Kind, QueryLog, QueryLogEntry
from ragplane.adapters.vectors import Hit, VectorStore
from ragplane.errors import CollectionNotFound, DependencyUnavailable, problem_for
from ragplane.kit.requests import read_json_object
from ragplane.kit.schemas import ModelResponse
from ragplane.kit.tracing import current_trace_id, stage
from ragplane.kit.versioning import ApiRoute
from ragplane.lexical import query_vector
from ragplane.services.query import schemas
from ragplane.services.query.activity import RecentActivity
from ragplane.services.query.schemas import (
    Citation,
    QueryRequest,
    QueryResponse,
    SearchResponse,
    SearchResult,
    Source,
)
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import BoundedLabel, ServiceMetrics

QUERY_BODY_LIMIT = 64 * 1024
COLLECTION_LABELS = 500
CLIENT_CLOSED = 499  # the client went away before the answer (nginx's convention); logged, never sent


R = TypeVar("R", bound=SearchResult)


def _result(hit: Hit, model: type[R], **extra: Any) -> R:
    """A hit as a search result, or (with its `id`) as an answer's source.

    A point written by something other than ragplane may lack a field: it reads as empty, never
    as a 500 (the schema's strings stay strings)."""
    p = hit.payload
    return model(
        score=round(hit.score, 6),
        document_id=str(p.get("document_id", "")),
        title=str(p.get("title", "")),
        text=str(p.get("text", "")),
        section=str(p.get("section", "")),
        chunk_index=p.get("chunk_index"),
        source=p.get("source"),
        **extra,
    )


@dataclass
class _Outcome:
    """What a handler learnt, for its query log entry."""

    results: int = 0
    cache_hit: bool = False
    degraded: bool = False
    status: int = 200


def _status_of(exc: BaseException) -> int:
    """The status the client gets for `exc`, as the exception handlers will map it."""
    if isinstance(exc, asyncio.CancelledError):
        return CLIENT_CLOSED
    problem = problem_for(exc)
    return problem.status if problem is not None else 500


class QueryApi:
    def __init__(
        self,
        *,
        embedder: Embedder,
        store: VectorStore,
        answerer: Answerer,
        fallback: Answerer,
        results: Cache[list[dict[str, Any]]],
        metrics: ServiceMetrics,
        tracer: Tracer,
        default_collection: str,
        activity: RecentActivity,
        query_log: QueryLog | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.answerer = answerer
        self.fallback = fallback
        self.results = results
        self.tracer = tracer
        self.default_collection = default_collection
        self.context = QueryRequest.defaults(default_collection)  # one validation context for every request
        self.query_log = query_log
        self.activity = activity
        self.answer_duration = metrics.histogram(catalog.ANSWER_DURATION)
        self.answers = metrics.counter(catalog.ANSWERS)
        for name in {answerer.name, fallback.name}:
            self.answers.prime(answerer=name)
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
        req = QueryRequest.parse(request.query_params, context=self.context)
        with self._logged("search", req, started) as outcome:
            hits, cached = await self._retrieve(req)
            outcome.results, outcome.cache_hit = len(hits), cached
        return ModelResponse(
            SearchResponse(
                query=req.query,
                collection=req.collection,
                max_results=req.max_results,
                results=[_result(h, SearchResult) for h in hits],
                cached=cached,
                took_ms=_since(started),
            )
        )

    async def query(self, request: Request) -> Response:
        started = time.perf_counter()
        body = await read_json_object(request, QUERY_BODY_LIMIT)
        req = QueryRequest.parse(body, context=self.context)
        with self._logged("query", req, started) as outcome:
            hits, outcome.cache_hit = await self._retrieve(req)
            outcome.results = len(hits)
            answer, degraded, passages = await self._answer_hits(req.query, hits)
            outcome.degraded = degraded is not None
        return ModelResponse(
            QueryResponse(
                query=req.query,
                collection=req.collection,
                answer=answer.text,
                grounded=answer.grounded,
                citations=[Citation(text=c.text, sources=list(c.sources)) for c in answer.citations],
                sources=[_result(h, Source, id=p.number) for p, h in zip(passages, hits, strict=True)],
                answerer=answer.answerer,
                degraded=degraded is not None,
                degraded_reason=degraded or None,
                max_results=req.max_results,
                took_ms=_since(started),
            )
        )

    @contextmanager
    def _logged(self, kind: Kind, req: QueryRequest, started: float) -> Iterator[_Outcome]:
        """Count the request in this minute's activity and record it in the query log when the
        block ends, however it ends."""
        outcome = _Outcome()
        try:
            yield outcome
        except BaseException as exc:
            outcome.status = _status_of(exc)
            raise
        finally:
            latency_s = time.perf_counter() - started
            self.activity.record(kind, latency_s, outcome.status)
            if self.query_log is not None:
                self.query_log.record(
                    QueryLogEntry.of(
                        kind,
                        req.collection,
                        req.query,
                        results=outcome.results,
                        latency_s=latency_s,
                        cache_hit=outcome.cache_hit,
                        degraded=outcome.degraded,
                        status=outcome.status,
                        trace_id=current_trace_id(),
                    )
                )

    async def _answer_hits(self, question: str, hits: list[Hit]) -> tuple[Answer, str | None, list[Passage]]:
        """The hits numbered as passages (the numbers citations use), and the answer over them."""
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
        answer, degraded = await self._answer(question, passages)
        self.answers.labels(answerer=answer.answerer, degraded=str(degraded is not None).lower()).inc()
        return answer, degraded, passages

    async def _answer(self, question: str, passages: list[Passage]) -> tuple[Answer, str | None]:
        """The answerer's answer, or the extractive one and the reason when the LLM cannot answer.
        Only the extractive answerer needs the question's vector, so only it waits for one."""
        if self.answerer is self.fallback:
            return await self._compose(self.fallback, question, passages, await self._embed_query(question)), None
        try:
            return await self._compose(self.answerer, question, passages, []), None
        except DependencyUnavailable as exc:
            reason = f"{exc.dependency} unavailable ({exc.message}); answered extractively instead"
            vector = await self._embed_query(question)
            return await self._compose(self.fallback, question, passages, vector), reason

    async def _compose(self, answerer: Answerer, question: str, passages: list[Passage], vector: list[float]) -> Answer:
        histogram = self.answer_duration.labels(answerer=answerer.name)
        with stage(self.tracer, "answer", histogram, answerer=answerer.name):
            return await answerer.answer(question, passages, vector)

    async def _embed_query(self, text: str) -> list[float]:
        return (await self.embedder.embed([text]))[0]  # a CachedEmbedder: embedded once per text

    async def _retrieve(self, req: QueryRequest) -> tuple[list[Hit], bool]:
        """Hits for the request, and whether they came from the result cache."""
        try:
            version = await self.store.version(req.collection)
        except CollectionNotFound:
            self._forget(req.collection)
            raise
        key = f"{req.collection}\x00{version}\x00{req.max_results}\x00{req.query}"
        cached = await self.results.get(key)
        if cached is not None:
            return [Hit(**hit) for hit in cached], True
        vector = await self._embed_query(req.query)
        started = time.perf_counter()
        try:
            with stage(self.tracer, "vector_search", collection=req.collection, limit=req.max_results):
                hits = await self.store.search(req.collection, vector, req.max_results, sparse=query_vector(req.query))
        except CollectionNotFound:
            self._forget(req.collection)
            raise
        # Labelled only after Qdrant knows the collection, so probing random names adds no series.
        label = self.collection_label(req.collection)
        self.search_duration.labels(collection=label).observe(time.perf_counter() - started)
        self.result_counts.labels(collection=label).observe(len(hits))
        await self.results.put(key, [{"id": h.id, "score": h.score, "payload": h.payload} for h in hits])
        return hits, False

    def _forget(self, collection: str) -> None:
        """A collection deleted since it was last searched: drop its series."""
        if self.collection_label.release(collection):
            for family in (self.search_duration, self.result_counts):
                family.forget(collection=collection)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
