"""Collection statistics, and the gauges that publish them.

Counts come from the registry (documents, chunks) and from Qdrant (vectors, disk);
`refresh` also sets `ragplane_collection_documents`, `ragplane_collection_vectors` and
(in Qdrant local mode) `ragplane_collection_storage_bytes`, so dashboards see the same
numbers the stats endpoint returns.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ragplane.adapters.vectors import VectorStore
from ragplane.errors import CollectionNotFound, DependencyError
from ragplane.services.collections.registry import Registry
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

log = logging.getLogger("ragplane.collections")


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class CollectionStats:
    def __init__(self, registry: Registry, store: VectorStore, metrics: ServiceMetrics) -> None:
        self.registry = registry
        self.store = store
        self.documents_gauge = metrics.gauge(catalog.COLLECTION_DOCUMENTS)
        self.vectors_gauge = metrics.gauge(catalog.COLLECTION_VECTORS)
        self.storage_gauge = metrics.gauge(catalog.COLLECTION_STORAGE)
        self.ingested = metrics.counter(catalog.INGESTION_DOCUMENTS)
        self.chunks = metrics.counter(catalog.INGESTION_CHUNKS)
        self.failures = metrics.counter(catalog.INGESTION_FAILURES)  # counted by the ingestor; primed here

    async def compute(self, name: str) -> dict[str, Any]:
        documents = await self.registry.documents(name)
        latest = max((d.ingested_at for d in documents.values()), default=None)
        return {
            "collection": name,
            "documents": len(documents),
            "chunks": sum(d.chunks for d in documents.values()),
            "vectors": await self.store.count(name),
            "disk_bytes": await self.store.disk_bytes(name),
            "text_bytes": sum(d.bytes for d in documents.values()),
            "last_ingested_at": iso(latest),
        }

    async def refresh(self, name: str) -> None:
        """Publish a collection's counts as gauges; a dependency failure is logged, not raised."""
        try:
            stats = await self.compute(name)
        except (DependencyError, CollectionNotFound) as exc:
            log.warning("cannot refresh the gauges of %s: %s", name, exc)
            return
        self.documents_gauge.labels(collection=name).set(stats["documents"])
        self.vectors_gauge.labels(collection=name).set(stats["vectors"])
        if stats["disk_bytes"] is not None:
            self.storage_gauge.labels(collection=name).set(stats["disk_bytes"])
        self.ingested.prime(collection=name)
        self.failures.prime(collection=name)
        self.chunks.labels(collection=name)

    def forget(self, name: str) -> None:
        # Failure counts outlive the collection: a job cancelled by the deletion counts as failed
        # (reason "deleted") after this runs, and alerts over increase() need the series to stay.
        gauges = (self.documents_gauge, self.vectors_gauge, self.storage_gauge)
        for family in (*gauges, self.ingested, self.chunks):
            family.forget(collection=name)
