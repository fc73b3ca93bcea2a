"""The query service's composition: its API, health checks and telemetry in one app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from ragplane.adapters.answerers import Answerer
from ragplane.adapters.embedders import Embedder
from ragplane.adapters.vectors import VectorStore
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.health import Health
from ragplane.services.query.api import QueryApi
from ragplane.services.query.schemas import SCHEMAS
from ragplane.settings import Settings
from ragplane.telemetry.metrics import ServiceMetrics

NAME = "query"


def create_query_app(
    settings: Settings,
    *,
    embedder: Embedder,
    store: VectorStore,
    answerer: Answerer,
    tracer_provider: TracerProvider,
    metrics: ServiceMetrics | None = None,
) -> Starlette:
    metrics = metrics or ServiceMetrics(NAME)
    api = QueryApi(
        embedder=embedder,
        store=store,
        answerer=answerer,
        metrics=metrics,
        tracer=tracer_provider.get_tracer("ragplane.query"),
        default_collection=settings.default_collection,
    )

    async def describe() -> dict[str, Any]:
        return {
            "qdrant": store.describe(),
            "embedder": {"name": embedder.name, "status": "up" if embedder.loaded else "loading"},
            "answerer": {"name": answerer.name},
        }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await embedder.start()
        yield

    spec = ServiceSpec(
        name=NAME,
        title="ragplane query service",
        description="Semantic search and question answering over document collections.",
        api=api.routes(),
        health=Health(
            NAME,
            checks={"qdrant": store.ping, "embedder": embedder.check, "answerer": answerer.check},
            describe=describe,
        ),
        metrics=metrics,
        tracer_provider=tracer_provider,
        config=settings.redacted,
        service_secrets=settings.service_secrets,
        caches={"query_embeddings": api.embeddings},
        schemas=SCHEMAS,
        lifespan=lifespan,
    )
    return create_app(spec)
