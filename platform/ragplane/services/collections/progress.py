"""An ingestion job's progress, recorded while it runs.

A job of one large document can take minutes; its counts are saved as chunks are stored,
not only when the job ends, so `GET /rag/jobs/{id}` shows it moving. Saves are bounded to
one per `SAVE_EVERY_S` (each rewrites the JSON registry's file or is a database round
trip), and a save that fails is only logged: the job's end is recorded by the ingestor,
which keeps it until the registry can take it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from ragplane.services.collections.models import JobRecord
from ragplane.services.collections.registry import Registry

SAVE_EVERY_S = 1.0

log = logging.getLogger("ragplane.ingest")


class JobProgress:
    """The running job's latest counts (`job`), saved to the registry at a bounded rate."""

    def __init__(self, registry: Registry, job: JobRecord) -> None:
        self.registry = registry
        self.job = job
        self._saved_at = time.monotonic()

    def count(self, **increments: int) -> JobRecord:
        """Add to the job's counters (`chunks=16`, `documents_ingested=1`); returns the job."""
        changes: dict[str, Any] = {k: getattr(self.job, k) + n for k, n in increments.items()}
        self.job = dataclasses.replace(self.job, **changes)
        return self.job

    async def save(self, *, now: bool = False) -> None:
        """Record the counts, unless they were recorded less than SAVE_EVERY_S ago (`now` forces it)."""
        if not now and time.monotonic() - self._saved_at < SAVE_EVERY_S:
            return
        self._saved_at = time.monotonic()
        try:
            await self.registry.save_job(self.job)
        except Exception as exc:
            log.warning("could not record the progress of job %s: %s", self.job.id, str(exc) or type(exc).__name__)
