"""Ingestion Monitoring: is the job queue moving, how fast, and why do jobs fail?

The job gauge is the registry's view (every collections replica reports the same
numbers, hence `max`); throughput and failures are counters the workers increment.
"""

from __future__ import annotations

from ragplane.telemetry import catalog as c
from ragplane.telemetry.promql import aggregate

from .common import (
    BACKUP_FAILING,
    BACKUP_STALE,
    BYTES,
    CHUNKS_PER_SECOND,
    COUNT,
    DOCS_PER_SECOND,
    INGESTION_FAILING,
    JOBS_PER_SECOND,
    SECONDS,
    Query,
    Section,
    build,
    stat,
    timeseries,
)
from .expr import mean, quantile, rate_by, sel

UID = "ragplane-ingestion"


def _jobs(state: str) -> str:
    return aggregate([], sel(c.INGESTION_JOBS, state=state), "max")


queue = Section(
    "Queue",
    [
        stat("Queued jobs", "Jobs waiting for a worker.", COUNT, Query(_jobs("queued"))),
        stat("Running jobs", "Jobs being ingested now.", COUNT, Query(_jobs("running"))),
        stat("Completed (24 h)", "Jobs that completed in the last 24 hours.", COUNT, Query(_jobs("completed"))),
        stat("Failed (24 h)", "Jobs that failed in the last 24 hours.", COUNT, Query(_jobs("failed"))),
        timeseries(
            "Queue depth",
            "Queued and running jobs over time: a queued line that only grows means the workers cannot keep up "
            "or are stuck.",
            COUNT,
            Query(aggregate(["state"], sel(c.INGESTION_JOBS, state="~queued|running"), "max"), "{{state}}"),
            width=24,
        ),
    ],
)

throughput = Section(
    "Throughput",
    [
        timeseries(
            "Documents per second",
            "Documents processed per second by result: ingested, skipped (unchanged since the last run) or failed.",
            DOCS_PER_SECOND,
            Query(rate_by(["result"], sel(c.INGESTION_DOCUMENTS)), "{{result}}"),
            stacking={"mode": "normal", "group": "A"},
            fillOpacity=20,
        ),
        timeseries(
            "Chunks per second",
            "Chunks embedded and written to Qdrant per second, by collection.",
            CHUNKS_PER_SECOND,
            Query(rate_by(["collection"], sel(c.INGESTION_CHUNKS)), "{{collection}}"),
        ),
    ],
)

failures = Section(
    "Failures and duration",
    [
        timeseries(
            "Job failures by reason",
            "Jobs failing per second by reason (embedder, qdrant, registry, deleted, interrupted, internal): "
            "the condition of RagplaneIngestionJobsFailing.",
            JOBS_PER_SECOND,
            Query(rate_by(["reason"], sel(c.INGESTION_FAILURES)), "{{reason}}"),
            alert=INGESTION_FAILING,
            width=8,
        ),
        timeseries(
            "Average job duration",
            "Mean time from a job's start to its end, by the state it ended in.",
            SECONDS,
            Query(mean(c.INGESTION_JOB_DURATION, ["state"]), "{{state}}"),
            width=8,
        ),
        timeseries(
            "p95 job duration",
            "p95 time from a job's start to its end, by the state it ended in (buckets up to 2 min).",
            SECONDS,
            Query(quantile(0.95, c.INGESTION_JOB_DURATION, ["state"]), "{{state}}"),
            width=8,
        ),
    ],
)

backups = Section(
    "Backups",
    [
        timeseries(
            "Age of the newest good backup",
            "Seconds since each collection's newest good archive was written: RagplaneBackupStale fires over 26 h.",
            SECONDS,
            Query(f"time() - {aggregate(['collection'], sel(c.BACKUP_LAST_SUCCESS), 'max')}", "{{collection}}"),
            alert=BACKUP_STALE,
            width=8,
        ),
        timeseries(
            "Backup size",
            "The size of each collection's newest archive.",
            BYTES,
            Query(aggregate(["collection"], sel(c.BACKUP_SIZE), "max"), "{{collection}}"),
            width=8,
        ),
        timeseries(
            "Backup failures and restores",
            "Backups that failed, by reason (RagplaneBackupFailing), and restores by result, per hour.",
            COUNT,
            Query(aggregate(["reason"], f"increase({sel(c.BACKUP_FAILURES)}[1h])"), "failed: {{reason}}"),
            Query(aggregate(["result"], f"increase({sel(c.RESTORES)}[1h])"), "restore {{result}}"),
            alert=BACKUP_FAILING,
            width=8,
        ),
    ],
)

dashboard = build(
    UID,
    "Ingestion Monitoring",
    "Ingestion job queue, documents and chunks per second, failures by reason and job duration; backups.",
    [queue, throughput, failures, backups],
)
