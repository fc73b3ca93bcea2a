-- The query log: one row per search or Q&A, written in batches by the query service
-- (adapters/querylog.py). A TimescaleDB hypertable by day with compression and retention
-- policies where the extension is preloaded, else partitioned by day with a DEFAULT partition
-- that the query service's upkeep keeps (ragplane_keep_partitions, every DATABASE_MAINTENANCE_S).
--
-- Two rollups the dashboards, the console's activity view and reports read instead of raw rows:
--   query_stats_1m  query volume, latency, cache hits and degraded answers per collection per minute
--   query_gaps_1d   per collection per day: distinct questions and those that found nothing
--                   (content gaps: what users ask that the corpus cannot answer)
--
-- A database from before the query service owned this table already has all of it (the
-- collections service's first migrations made it): every statement here leaves it as it is.

DO $$
DECLARE
    ts constant boolean := ragplane_timescale();
BEGIN
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
        PERFORM create_hypertable('query_logs', 'time', chunk_time_interval => interval '1 day',
                                  if_not_exists => true);
        ALTER TABLE query_logs SET (timescaledb.compress, timescaledb.compress_segmentby = 'collection');
        PERFORM add_compression_policy('query_logs', interval '7 days', if_not_exists => true);
        PERFORM add_retention_policy('query_logs', interval '30 days', if_not_exists => true);
    ELSE
        CREATE TABLE IF NOT EXISTS query_logs_default PARTITION OF query_logs DEFAULT;
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS query_logs_collection_time ON query_logs (collection, time DESC);

SELECT ragplane_keep_partitions('query_logs', 'time', 'day', 7, interval '30 days');

-- The per-minute rollup covers the last two days on plain PostgreSQL, so its refresh (every
-- upkeep round) stays cheap however long the log is kept.
SELECT ragplane_create_rollup(
    'query_stats_1m', 'minute', 'time', 'query_logs', 'collection, kind',
    $q$count(*) AS queries,
       sum(latency_s) AS latency_sum_s,
       max(latency_s) AS latency_max_s,
       count(*) FILTER (WHERE latency_s > 1) AS slow_queries,
       count(*) FILTER (WHERE cache_hit) AS cache_hits,
       count(*) FILTER (WHERE degraded) AS degraded,
       count(*) FILTER (WHERE status >= 500) AS errors$q$,
    interval '1 hour', interval '1 minute', interval '2 days');

SELECT ragplane_create_rollup(
    'query_gaps_1d', 'day', 'time', 'query_logs', 'collection',
    $q$count(*) AS queries,
       count(DISTINCT query_hash) AS distinct_queries,
       count(*) FILTER (WHERE results = 0) AS empty_results,
       count(DISTINCT query_hash) FILTER (WHERE results = 0) AS distinct_empty$q$,
    interval '3 days', interval '1 hour', NULL);
