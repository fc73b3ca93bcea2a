-- ingestion_stats_1h: ingestion jobs, documents, chunks, failures and job time per collection
-- per hour, which the dashboards and reports read instead of scanning raw rows
-- (ragplane_create_rollup: a continuous aggregate on TimescaleDB, else a materialized view the
-- collections service refreshes CONCURRENTLY every five minutes).
--
-- This file once created the query log's two rollups too; they belong to the query service
-- now (services/query/migrations), and databases that applied the earlier text keep them.

SELECT ragplane_create_rollup(
    'ingestion_stats_1h', 'hour', 'created_at', 'ingestion_jobs', 'collection',
    $q$count(*) AS jobs,
       count(*) FILTER (WHERE state = 'completed') AS completed,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       sum(documents_ingested) AS documents_ingested,
       sum(documents_failed) AS documents_failed,
       sum(chunks) AS chunks,
       sum(extract(epoch FROM finished_at - started_at)) AS job_seconds$q$,
    interval '3 days', interval '5 minutes', NULL);
