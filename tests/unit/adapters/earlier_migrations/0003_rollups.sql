-- Three rollups the dashboards and reports read instead of scanning raw rows:
--   query_stats_1m      query volume, latency, cache hits and degraded answers per collection per minute
--   ingestion_stats_1h  ingestion jobs, documents, chunks, failures and job time per collection per hour
--   query_gaps_1d       per collection per day: distinct questions and those that found nothing
--                       (content gaps: what users ask that the corpus cannot answer)
-- TimescaleDB: continuous aggregates refreshed by policies. Plain PostgreSQL: materialized
-- views the collections service refreshes CONCURRENTLY (readers never block), each on its
-- own schedule; the per-minute one covers the last two days there, so its refresh stays
-- cheap however long the query log is kept.

DO $$
DECLARE
    ts constant boolean := ragplane_timescale();
    options constant text := CASE WHEN ts THEN 'WITH (timescaledb.continuous)' ELSE '' END;
    rollup record;
    bucket text;
BEGIN
    FOR rollup IN
        SELECT * FROM (VALUES
            ('query_stats_1m', 'minute', 'time', 'query_logs', 'collection, kind',
             $q$count(*) AS queries,
                sum(latency_s) AS latency_sum_s,
                max(latency_s) AS latency_max_s,
                count(*) FILTER (WHERE latency_s > 1) AS slow_queries,
                count(*) FILTER (WHERE cache_hit) AS cache_hits,
                count(*) FILTER (WHERE degraded) AS degraded,
                count(*) FILTER (WHERE status >= 500) AS errors$q$,
             '1 hour', '1 minute', '2 days'),
            ('ingestion_stats_1h', 'hour', 'created_at', 'ingestion_jobs', 'collection',
             $q$count(*) AS jobs,
                count(*) FILTER (WHERE state = 'completed') AS completed,
                count(*) FILTER (WHERE state = 'failed') AS failed,
                sum(documents_ingested) AS documents_ingested,
                sum(documents_failed) AS documents_failed,
                sum(chunks) AS chunks,
                sum(extract(epoch FROM finished_at - started_at)) AS job_seconds$q$,
             '3 days', '5 minutes', NULL),
            ('query_gaps_1d', 'day', 'time', 'query_logs', 'collection',
             $q$count(*) AS queries,
                count(DISTINCT query_hash) AS distinct_queries,
                count(*) FILTER (WHERE results = 0) AS empty_results,
                count(DISTINCT query_hash) FILTER (WHERE results = 0) AS distinct_empty$q$,
             '3 days', '1 hour', NULL)
        ) AS r (name, unit, time_column, source, keys, aggregates, lookback, every, plain_window)
    LOOP
        CONTINUE WHEN to_regclass(rollup.name) IS NOT NULL;
        bucket := CASE WHEN ts THEN format('time_bucket(%L::interval, %I)', '1 ' || rollup.unit, rollup.time_column)
                       ELSE format('date_trunc(%L, %I, ''UTC'')', rollup.unit, rollup.time_column) END;
        -- A continuous aggregate cannot be filled inside a transaction (each migration is one):
        -- it is created empty and its policy fills it. A materialized view is filled at once.
        EXECUTE format(
            'CREATE MATERIALIZED VIEW %I %s AS SELECT %s AS bucket, %s, %s FROM %I %s GROUP BY %s, %s %s',
            rollup.name, options, bucket, rollup.keys, rollup.aggregates, rollup.source,
            CASE WHEN ts OR rollup.plain_window IS NULL THEN ''
                 ELSE format('WHERE %I > now() - %L::interval', rollup.time_column, rollup.plain_window) END,
            bucket, rollup.keys, CASE WHEN ts THEN 'WITH NO DATA' ELSE '' END);
        IF ts THEN
            PERFORM add_continuous_aggregate_policy(rollup.name::regclass,
                                                    start_offset => rollup.lookback::interval,
                                                    end_offset => NULL, schedule_interval => rollup.every::interval);
        ELSE
            -- REFRESH ... CONCURRENTLY needs a unique index.
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (bucket, %s)', rollup.name || '_key', rollup.name, rollup.keys);
        END IF;
    END LOOP;
END $$;
