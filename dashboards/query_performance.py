"""Query Performance: how fast search and Q&A answer, and where the time goes.

Latency comes from the query service's request histogram on its public routes (the
`/api/v1` ones and their legacy twins): in the full stack Kong forwards straight to the
query service, so this is what users wait for, minus the edge. Quantiles are computed per
route from bucket rates summed across instances (`histogram_quantile` over
`sum by (le, route)`), which is the only correct way to aggregate histograms.
"""

from __future__ import annotations

from grafanalib.core import TimeSeries

from ragplane.telemetry import catalog as c
from ragplane.telemetry.promql import QUERY_ROUTES, SLOW_QUERY_SECONDS, aggregate

from .common import (
    CACHE_UNAVAILABLE,
    COUNT,
    ENTRIES_PER_SECOND,
    QUERY_LOG_DROPPING,
    RATIO,
    REQUESTS_PER_SECOND,
    SECONDS,
    SLOW_QUERIES,
    Query,
    Section,
    build,
    heatmap,
    timeseries,
)
from .expr import above, above_share, cache_hit_ratio, quantile, rate_by, rate_or_zero, rate_ratio, sel

UID = "ragplane-query-performance"
PUBLIC = {"service": "query", "route": f"~{QUERY_ROUTES}"}


def _latency(q: float, percentile: str) -> TimeSeries:
    return timeseries(
        f"{percentile} latency per route",
        f"{percentile} of the query service's response time per public route, from its request histogram "
        "(5 ms .. 10 s buckets).",
        SECONDS,
        Query(quantile(q, c.HTTP_REQUEST_DURATION, ["route"], **PUBLIC), "{{route}}"),
        alert=SLOW_QUERIES if percentile == "p95" else None,
        width=8,
    )


latency = Section(
    "Latency (query service, public routes)",
    [
        _latency(0.5, "p50"),
        _latency(0.95, "p95"),
        _latency(0.99, "p99"),
        timeseries(
            "Slow queries (> 1 s) per route",
            "Requests per second that took longer than 1 s (all requests minus the le=1.0 bucket): "
            "what RagplaneSlowQueries watches.",
            REQUESTS_PER_SECOND,
            Query(above(c.HTTP_REQUEST_DURATION, SLOW_QUERY_SECONDS, ["route"], **PUBLIC), "{{route}}"),
            alert=SLOW_QUERIES,
            width=8,
        ),
        timeseries(
            "Share of queries slower than 1 s",
            "Fraction of requests per route that took longer than 1 s.",
            RATIO,
            Query(above_share(c.HTTP_REQUEST_DURATION, SLOW_QUERY_SECONDS, ["route"], **PUBLIC), "{{route}}"),
            alert=SLOW_QUERIES,
            width=8,
        ),
        timeseries(
            "Request rate per route",
            "Requests per second per public route of the query service (searches and Q&A, v1 and legacy).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["route"], sel(c.HTTP_REQUESTS, **PUBLIC)), "{{route}}"),
            width=8,
        ),
    ],
)

stages = Section(
    "Stages: embedding, vector search, answer, GPU",
    [
        heatmap(
            "GPU wait-time distribution",
            "How long calls waited for a GPU slot (embedding and generation), as a heatmap of the "
            "wait histogram's buckets: a band moving up means the GPU is the bottleneck.",
            SECONDS,
            Query(rate_by(["le"], sel(c.GPU_WAIT, "_bucket")), "{{le}}"),
        ),
        timeseries(
            "Stage latency (p95)",
            "p95 of each stage of a request: embedding the query (per embedder), the nearest-neighbour "
            "search in Qdrant (per collection) and composing the answer (per answerer).",
            SECONDS,
            Query(quantile(0.95, c.EMBEDDING_DURATION, ["embedder"]), "embed {{embedder}}"),
            Query(quantile(0.95, c.VECTOR_SEARCH_DURATION, ["collection"]), "vector search {{collection}}"),
            Query(quantile(0.95, c.ANSWER_DURATION, ["answerer"]), "answer {{answerer}}"),
        ),
        timeseries(
            "GPU slots and queue",
            "GPU slots held and calls waiting for one, per service. A standing queue means GPU_SLOTS is "
            "too small for the load; waits past GPU_QUEUE_TIMEOUT_S end in 503.",
            COUNT,
            Query(aggregate(["service"], sel(c.GPU_SLOTS_IN_USE), "max"), "{{service}} slots in use"),
            Query(aggregate(["service"], sel(c.GPU_QUEUE_DEPTH), "max"), "{{service}} waiting"),
        ),
        timeseries(
            "Embedding batch size (p50)",
            "Median texts per embedding model call: query calls are micro-batched, so this grows with load.",
            COUNT,
            Query(quantile(0.5, c.EMBEDDING_BATCH_SIZE, ["embedder"]), "{{embedder}}"),
        ),
    ],
)

caches_and_answers = Section(
    "Caches and answers",
    [
        timeseries(
            "Cache hit ratio per cache",
            "Share of lookups served from the cache: query embeddings and search results.",
            RATIO,
            Query(cache_hit_ratio(), "{{cache}}"),
            width=8,
        ),
        timeseries(
            "Cache lookups by result",
            "Lookups per second by cache and result: hit, miss, or error (the backend failed and was bypassed).",
            REQUESTS_PER_SECOND,
            Query(rate_by(["cache", "result"], sel(c.CACHE_REQUESTS)), "{{cache}} {{result}}"),
            width=8,
        ),
        timeseries(
            "Cache error ratio",
            "Share of cache operations the backend (Redis) failed, by service and cache; requests go on "
            "uncached, slower. RagplaneCacheUnavailable fires while this stays above its threshold.",
            RATIO,
            Query(
                rate_ratio(sel(c.CACHE_REQUESTS, result="error"), sel(c.CACHE_REQUESTS), ["service", "cache"]),
                "{{service}} {{cache}}",
            ),
            alert=CACHE_UNAVAILABLE,
            width=8,
        ),
        timeseries(
            "Degraded answers",
            "Answers per second given without the LLM (unavailable, breaker open): the extractive answer stood in.",
            REQUESTS_PER_SECOND,
            Query(rate_or_zero(sel(c.ANSWERS, degraded="true"), sel(c.ANSWERS), ["answerer"]), "{{answerer}}"),
        ),
        timeseries(
            "Degraded answer share",
            "Fraction of answers that were degraded.",
            RATIO,
            Query(rate_ratio(sel(c.ANSWERS, degraded="true"), sel(c.ANSWERS)), "degraded"),
            width=8,
        ),
        timeseries(
            "Query log",
            "Query log entries written to PostgreSQL and dropped (buffer full while PostgreSQL was slow or "
            "down) per second; RagplaneQueryLogDropping fires while drops go on.",
            ENTRIES_PER_SECOND,
            Query(rate_by(["service"], sel(c.QUERY_LOG_WRITTEN)), "{{service}} written"),
            Query(rate_by(["service"], sel(c.QUERY_LOG_DROPPED)), "{{service}} dropped"),
            alert=QUERY_LOG_DROPPING,
            width=8,
        ),
    ],
)

dashboard = build(
    UID,
    "Query Performance",
    "Search and Q&A latency per route, slow queries, stage latencies, GPU waits, caches and degraded answers.",
    [latency, stages, caches_and_answers],
)
