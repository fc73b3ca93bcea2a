"""The query service's composition: its API, breakers, caches, query log, health and telemetry in one app.

The query log exists only with `DATABASE_URL`. Its pool is made when the app starts (it
connects on first write), and its state shows on `/health` — `down` while writes fail,
which marks the service degraded — but never in `/health/ready`: search works without it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis
from starlette.applications import Starlette

from ragplane.adapters.answerers import Answerer, ExtractiveAnswerer
from ragplane.adapters.cache import decode_json, decode_vector, encode_json, encode_vector, new_cache
from ragplane.adapters.embedders import Embedder
from ragplane.adapters.gpu import GpuSlots, Priority
from ragplane.adapters.guarded import GuardedAnswerer, GuardedEmbedder, watch_slots
from ragplane.adapters.postgres import create_pool
from ragplane.adapters.querylog import QueryLog
from ragplane.adapters.vectors import VectorStore
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.breakers import service_breakers
from ragplane.kit.health import Health
from ragplane.services.query.activity import ActivityApi, RecentActivity
from ragplane.services.query.api import QueryApi
from ragplane.services.query.embedding_cache import CachedEmbedder
from ragplane.services.query.log_upkeep import QueryLogUpkeep
from ragplane.services.query.schemas import SCHEMAS
from ragplane.settings import Settings
from ragplane.telemetry.metrics import ServiceMetrics

NAME = "query"
BREAKERS = ("embedder", "qdrant", "llm", "cache")
ESSENTIAL = ("embedder", "qdrant")  # without these there is no search; without the LLM answers degrade
QUERY_LOG_CONNECTIONS = 2  # the writer uses one at a time; a spare while one is torn down after a timeout


def build_query_log(settings: Settings, metrics: ServiceMetrics) -> QueryLog | None:
    """The query log writer when `DATABASE_URL` is set, else None (nothing is recorded, nothing is spent)."""
    url = settings.database.database_url
    if not url:
        return None
    timeout_s = settings.database.database_timeout_s
    size = min(QUERY_LOG_CONNECTIONS, settings.database.database_pool_size)
    return QueryLog(
        lambda: create_pool(url, size=size, timeout_s=timeout_s, application=NAME),
        metrics=metrics,
        batch_size=settings.query_log.query_log_batch_size,
        flush_s=settings.query_log.query_log_flush_s,
        capacity=settings.query_log.query_log_buffer,
        timeout_s=timeout_s,
        owns_pool=True,
    )


def create_query_app(
    settings: Settings,
    *,
    embedder: Embedder,
    store: VectorStore,
    llm: Answerer | None,
    slots: GpuSlots,
    tracer_provider: TracerProvider,
    redis: Redis | None = None,
    metrics: ServiceMetrics | None = None,
) -> Starlette:
    metrics = metrics or ServiceMetrics(NAME)
    breakers = service_breakers(BREAKERS, settings.resilience, metrics)
    watch_slots(slots, metrics)
    guarded = GuardedEmbedder(
        embedder,
        guard=breakers["embedder"],
        slots=slots,
        metrics=metrics,
        priority=Priority.INTERACTIVE,
        batch=(settings.models.embed_batch_max, settings.models.embed_batch_wait_ms / 1000),
    )
    cache = functools.partial(new_cache, settings=settings.cache, metrics=metrics, redis=redis, guard=breakers["cache"])
    embeddings = cache("query_embeddings", encode=encode_vector, decode=decode_vector)
    sentences = cache("sentence_embeddings", encode=encode_vector, decode=decode_vector)
    results = cache("search_results", encode=encode_json, decode=decode_json)
    tracer = tracer_provider.get_tracer("ragplane.query")
    extractive = ExtractiveAnswerer(CachedEmbedder(guarded, sentences, tracer=tracer))
    answerer = GuardedAnswerer(llm, guard=breakers["llm"], slots=slots, metrics=metrics) if llm else extractive
    guarded_store = store.guarded(breakers["qdrant"], metrics)
    query_log = build_query_log(settings, metrics)
    upkeep = (
        QueryLogUpkeep(
            lambda: query_log.pool,
            migrate_on_start=settings.database.database_migrate_on_start,
            every_s=settings.database.database_maintenance_s,
            retry_s=settings.database.database_retry_s,
            retention_days=settings.database.query_log_retention_days,
        )
        if query_log
        else None
    )
    activity = RecentActivity()
    api = QueryApi(
        embedder=CachedEmbedder(guarded, embeddings, tracer=tracer),
        store=guarded_store,
        answerer=answerer,
        fallback=extractive,
        results=results,
        metrics=metrics,
        tracer=tracer,
        default_collection=settings.collections.default_collection,
        activity=activity,
        query_log=query_log,
    )

    async def describe() -> dict[str, Any]:
        return {
            "qdrant": store.describe(),
            "embedder": {"name": embedder.name, "status": "up" if embedder.loaded else "loading"},
            "answerer": {"name": answerer.name, "fallback": extractive.name},
            "caches": {c.name: c.describe() for c in (embeddings, sentences, results)},
            "gpu_slots": {"slots": slots.slots, "in_use": slots.in_use, "queue_depth": slots.queue_depth},
            "query_log": query_log.describe() if query_log else {"status": "disabled"},
        }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await embedder.start()
        if query_log:
            await query_log.start()
        if upkeep:
            upkeep.start()
        try:
            yield
        finally:
            if upkeep:
                await upkeep.close()
            if query_log:
                await query_log.close()
            await guarded.close()

    spec = ServiceSpec(
        name=NAME,
        title="ragplane query service",
        description="Semantic search and question answering over document collections.",
        api=api.routes() + ActivityApi(activity, query_log).routes(),
        health=Health(
            NAME,
            checks={"qdrant": store.ping, "embedder": embedder.check},
            describe=describe,
            breakers=breakers,
            essential=ESSENTIAL,
        ),
        metrics=metrics,
        tracer_provider=tracer_provider,
        config=settings.redacted,
        service_secrets=settings.service_secrets,
        caches={c.name: c for c in (embeddings, sentences, results)},
        breakers=breakers,
        schemas=SCHEMAS,
        lifespan=lifespan,
    )
    app = create_app(spec)
    app.state.query_log = query_log
    app.state.query_log_upkeep = upkeep
    return app
