-- Ingestion jobs as a time series (by created_at): a TimescaleDB hypertable with a retention
-- policy where the extension is preloaded, else partitioned by month with a DEFAULT partition
-- that the collections service's upkeep keeps (ragplane_keep_partitions, every
-- DATABASE_MAINTENANCE_S). Same columns, same queries either way.
--
-- This file once created the query log too; the query service owns that table now
-- (services/query/migrations), and databases that applied the earlier text keep it as it was
-- (its checksum is accepted: see registry/migrations/__init__.py).

DO $$
DECLARE
    ts constant boolean := ragplane_timescale();
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS ingestion_jobs (
            id                 text NOT NULL,
            collection         text NOT NULL,
            state              text NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed')),
            documents_total    integer NOT NULL DEFAULT 0,
            documents_ingested integer NOT NULL DEFAULT 0,
            documents_skipped  integer NOT NULL DEFAULT 0,
            documents_failed   integer NOT NULL DEFAULT 0,
            chunks             integer NOT NULL DEFAULT 0,
            error              text,
            created_at         timestamptz NOT NULL,
            started_at         timestamptz,
            finished_at        timestamptz,
            PRIMARY KEY (id, created_at)
        ) %s$ddl$, CASE WHEN ts THEN '' ELSE 'PARTITION BY RANGE (created_at)' END);

    IF ts THEN
        PERFORM create_hypertable('ingestion_jobs', 'created_at', chunk_time_interval => interval '7 days',
                                  if_not_exists => true);
        PERFORM add_retention_policy('ingestion_jobs', interval '90 days', if_not_exists => true);
    ELSE
        CREATE TABLE IF NOT EXISTS ingestion_jobs_default PARTITION OF ingestion_jobs DEFAULT;
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS ingestion_jobs_id ON ingestion_jobs (id);
CREATE INDEX IF NOT EXISTS ingestion_jobs_collection ON ingestion_jobs (collection, created_at DESC);
CREATE INDEX IF NOT EXISTS ingestion_jobs_unfinished ON ingestion_jobs (state) WHERE state IN ('queued', 'running');

SELECT ragplane_keep_partitions('ingestion_jobs', 'created_at', 'month', 2, interval '90 days');
