"""The collections service's composition: registry, ingestion worker, API and health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.gpu import GpuSlots, Priority
from ragplane.adapters.guarded import GuardedEmbedder, watch_slots
from ragplane.adapters.vectors import VectorStore
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.breakers import service_breakers
from ragplane.kit.health import Health
from ragplane.services.collections.api import CollectionsApi
from ragplane.services.collections.backup_api import backup_routes
from ragplane.services.collections.backup_schedule import run_schedule
from ragplane.services.collections.backups import Backups
from ragplane.services.collections.ingest import Ingestor
from ragplane.services.collections.registry import SNAPSHOT_FLUSH_S, Registry
from ragplane.services.collections.registry.hybrid import HybridRegistry
from ragplane.services.collections.registry.json_file import JsonRegistry
from ragplane.services.collections.registry.postgres import PostgresRegistry
from ragplane.services.collections.schemas import SCHEMAS
from ragplane.services.collections.stats import CollectionStats
from ragplane.settings import Settings
from ragplane.telemetry.metrics import ServiceMetrics

NAME = "collections"
BREAKERS = ("embedder", "qdrant")

log = logging.getLogger("ragplane.collections")


def build_registry(settings: Settings, metrics: ServiceMetrics) -> Registry:
    """PostgreSQL with a JSON snapshot when DATABASE_URL is set, else the JSON registry."""
    if not settings.database.database_url:
        return JsonRegistry(settings.registry_path)
    db = PostgresRegistry(
        settings.database.database_url,
        pool_size=settings.database.database_pool_size,
        timeout_s=settings.database.database_timeout_s,
        migrate_on_start=settings.database.database_migrate_on_start,
    )
    return HybridRegistry(
        db,
        JsonRegistry(settings.registry_snapshot_path, flush_delay_s=SNAPSHOT_FLUSH_S),
        metrics=metrics,
        retry_s=settings.database.database_retry_s,
        maintenance_s=settings.database.database_maintenance_s,
        job_retention_days=settings.database.job_retention_days,
    )


async def _warn_if_unmigrated(registry: Registry, json_path: Path) -> None:
    """A JSON registry beside an empty database usually means `ragplane migrate-json` was not run."""
    if registry.backend != "postgres" or await registry.list_collections():
        return
    if not await asyncio.to_thread(json_path.exists):
        return
    log.warning(
        "the database has no collections but %s exists: run `ragplane migrate-json` to move them",
        json_path,
        extra={"fields": {"event": "registry_not_migrated"}},
    )


def create_collections_app(
    settings: Settings,
    *,
    embedder: Embedder,
    store: VectorStore,
    slots: GpuSlots,
    tracer_provider: TracerProvider,
    registry: Registry | None = None,
    metrics: ServiceMetrics | None = None,
) -> Starlette:
    metrics = metrics or ServiceMetrics(NAME)
    breakers = service_breakers(BREAKERS, settings.resilience, metrics)
    watch_slots(slots, metrics)
    raw_store = store
    store = store.guarded(breakers["qdrant"], metrics)
    guarded = GuardedEmbedder(
        embedder, guard=breakers["embedder"], slots=slots, metrics=metrics, priority=Priority.BATCH
    )
    registry = registry or build_registry(settings, metrics)
    stats = CollectionStats(registry, store, metrics)
    ingestor = Ingestor(
        registry=registry,
        store=store,
        embedder=guarded,
        metrics=metrics,
        tracer=tracer_provider.get_tracer("ragplane.collections"),
        stats=stats,
        concurrency=settings.collections.ingest_concurrency,
        max_jobs=settings.collections.ingest_max_jobs,
    )
    api = CollectionsApi(
        registry=registry,
        store=store,
        embedder=guarded,
        ingestor=ingestor,
        stats=stats,
        chunk_size=settings.collections.chunk_size_chars,
        chunk_overlap=settings.collections.chunk_overlap_chars,
        upload_limit=settings.collections.max_upload_bytes,
    )

    backups = Backups(
        registry,
        store,
        settings.backups,
        retention_days=settings.backup.backup_retention_days,
        changes=api.changes,
        metrics=metrics,
    )

    async def describe() -> dict[str, Any]:
        return {
            "registry": registry.describe(),
            "qdrant": raw_store.describe(),
            "embedder": {"name": embedder.name, "status": "up" if embedder.loaded else "loading"},
        }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await registry.open()
        if isinstance(registry, HybridRegistry):
            registry.on_sync.append(ingestor.flush_unsaved)
            await _warn_if_unmigrated(registry, settings.registry_path)
        interrupted = await ingestor.recover()
        if interrupted:
            log.warning("%d ingestion jobs were interrupted by the last stop and are marked failed", interrupted)
        for record in await registry.list_collections():
            await stats.refresh(record.name)
        await embedder.start()
        sweeper = asyncio.create_task(ingestor.retry_sweeps(), name="stray-sweeper")
        await asyncio.to_thread(backups.publish_existing)
        schedule = settings.backup.backup_schedule
        database = registry.db if isinstance(registry, HybridRegistry) else None
        scheduled = (
            asyncio.create_task(run_schedule(backups, schedule, database=database), name="backups")
            if schedule
            else None
        )
        try:
            yield
        finally:
            if scheduled is not None:
                scheduled.cancel()
            sweeper.cancel()
            await ingestor.shutdown()
            await registry.close()

    spec = ServiceSpec(
        name=NAME,
        title="ragplane collections service",
        description="Collections, documents, ingestion jobs and statistics.",
        api=api.routes(),
        health=Health(
            NAME,
            checks={"registry": registry.check, "qdrant": raw_store.ping, "embedder": embedder.check},
            describe=describe,
            breakers=breakers,
            essential=BREAKERS,
        ),
        metrics=metrics,
        tracer_provider=tracer_provider,
        config=settings.redacted,
        service_secrets=settings.service_secrets,
        breakers=breakers,
        schemas=SCHEMAS,
        routes=backup_routes(backups),
        lifespan=lifespan,
    )
    app = create_app(spec)
    app.state.ingestor = ingestor
    return app
