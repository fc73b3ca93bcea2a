-- The two time-series tables: ingestion jobs (by created_at) and query logs (by time).
--
-- With the timescaledb extension (preloaded, as in the compose stack) they become
-- hypertables with compression and retention policies. Without it they are natively
-- range-partitioned (query_logs by day, ingestion_jobs by month) with a DEFAULT
-- partition, so an insert never fails for want of a partition; ragplane_maintain()
-- (called by the collections service every DATABASE_MAINTENANCE_S) creates future
-- partitions and drops expired ones. Same columns, same queries either way.
-- Partition bounds are UTC days and months whatever the server's or session's time
-- zone: the functions below run with `SET timezone = 'UTC'`.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION ragplane_timescale() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
$$;

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

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS query_logs (
            time        timestamptz NOT NULL,
            collection  text NOT NULL,
            kind        text NOT NULL CHECK (kind IN ('search', 'query')),
            query_hash  text NOT NULL,
            query_text  text NOT NULL,
            results     integer NOT NULL,
            latency_s   double precision NOT NULL,
            cache_hit   boolean NOT NULL,
            degraded    boolean NOT NULL,
            status      smallint NOT NULL,
            trace_id    text
        ) %s$ddl$, CASE WHEN ts THEN '' ELSE 'PARTITION BY RANGE (time)' END);

    IF ts THEN
        PERFORM create_hypertable('ingestion_jobs', 'created_at', chunk_time_interval => interval '7 days',
                                  if_not_exists => true);
        PERFORM create_hypertable('query_logs', 'time', chunk_time_interval => interval '1 day',
                                  if_not_exists => true);
        ALTER TABLE query_logs SET (timescaledb.compress, timescaledb.compress_segmentby = 'collection');
        PERFORM add_compression_policy('query_logs', interval '7 days', if_not_exists => true);
        PERFORM add_retention_policy('query_logs', interval '30 days', if_not_exists => true);
        PERFORM add_retention_policy('ingestion_jobs', interval '90 days', if_not_exists => true);
    ELSE
        CREATE TABLE IF NOT EXISTS ingestion_jobs_default PARTITION OF ingestion_jobs DEFAULT;
        CREATE TABLE IF NOT EXISTS query_logs_default PARTITION OF query_logs DEFAULT;
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS ingestion_jobs_id ON ingestion_jobs (id);
CREATE INDEX IF NOT EXISTS ingestion_jobs_collection ON ingestion_jobs (collection, created_at DESC);
CREATE INDEX IF NOT EXISTS ingestion_jobs_unfinished ON ingestion_jobs (state) WHERE state IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS query_logs_collection_time ON query_logs (collection, time DESC);

-- Create the partitions from last `unit` to `ahead` units from now (plain PostgreSQL).
-- A range whose rows already landed in the DEFAULT partition is skipped with a warning:
-- those rows stay queryable there and expire with the default partition's own cleanup.
CREATE OR REPLACE FUNCTION ragplane_ensure_partitions(parent text, unit text, ahead integer)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    step constant interval := ('1 ' || unit)::interval;
    first constant timestamptz := date_trunc(unit, now() - step);
    lower timestamptz;
    name text;
    created integer := 0;
BEGIN
    FOR i IN 0..ahead + 1 LOOP
        lower := first + i * step;
        name := parent || '_p' || to_char(lower, CASE unit WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           name, parent, lower, lower + step);
            created := created + 1;
        EXCEPTION WHEN check_violation OR invalid_object_definition THEN
            RAISE WARNING 'partition % not created: %', name, SQLERRM;
        END;
    END LOOP;
    RETURN created;
END $$;

-- Drop the partitions whose whole range is older than `keep`, and expired rows of the
-- DEFAULT partition (plain PostgreSQL).
CREATE OR REPLACE FUNCTION ragplane_drop_partitions(parent text, column_name text, keep interval)
RETURNS integer LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
    part record;
    upper timestamptz;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
    LOOP
        IF part.bound = 'DEFAULT' THEN
            EXECUTE format('DELETE FROM %I WHERE %I < now() - %L::interval', part.relname, column_name, keep);
            CONTINUE;
        END IF;
        upper := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper <= now() - keep THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END $$;

-- Periodic upkeep, called by the collections service every DATABASE_MAINTENANCE_S:
-- partitions a week (days) or two months ahead, expired ones dropped. Returns what the
-- caller should do next:
--   'partitioned'  done; refresh the rollups (materialized views)
--   'timescale'    the tables are hypertables: TimescaleDB's policies do all of it
--   'busy'         another replica is doing this round
-- It looks at the table, not at the extension: a plain dump restored into a TimescaleDB
-- server still has partitioned tables that need this.
CREATE OR REPLACE FUNCTION ragplane_maintain(query_log_retention interval, job_retention interval)
RETURNS text LANGUAGE plpgsql SET timezone = 'UTC' AS $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'query_logs'::regclass) <> 'p' THEN
        RETURN 'timescale';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('ragplane_maintain')) THEN
        RETURN 'busy';
    END IF;
    PERFORM ragplane_ensure_partitions('query_logs', 'day', 7);
    PERFORM ragplane_ensure_partitions('ingestion_jobs', 'month', 2);
    PERFORM ragplane_drop_partitions('query_logs', 'time', query_log_retention);
    PERFORM ragplane_drop_partitions('ingestion_jobs', 'created_at', job_retention);
    RETURN 'partitioned';
END $$;

SELECT ragplane_maintain(interval '30 days', interval '90 days');
