-- Functions every service's migrations and upkeep may call, (re)defined by each migrate run
-- before any schema's pending migrations (ragplane/adapters/migrations.py), so they always
-- match this version of ragplane. They own no table.
--
-- Time-series tables are TimescaleDB hypertables where the extension is preloaded (as in the
-- compose stack), else natively range-partitioned with a DEFAULT partition, so an insert never
-- fails for want of a partition; the owning service's upkeep creates future partitions and
-- drops expired ones. Partition bounds are UTC days and months whatever the server's or
-- session's time zone: the functions run with `SET timezone = 'UTC'`.

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

-- Upkeep of one time-series table, for its owner's periodic round: partitions `ahead` units
-- ahead, those older than `keep` dropped. Returns what the caller should do next:
--   'partitioned'  done; refresh the table's rollups (materialized views)
--   'timescale'    the table is a hypertable: TimescaleDB's policies do all of it
--   'busy'         another replica is doing this round
-- It looks at the table, not at the extension: a plain dump restored into a TimescaleDB
-- server still has partitioned tables that need this.
CREATE OR REPLACE FUNCTION ragplane_keep_partitions(parent text, column_name text, unit text, ahead integer,
                                                    keep interval)
RETURNS text LANGUAGE plpgsql SET timezone = 'UTC' AS $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = parent::regclass) <> 'p' THEN
        RETURN 'timescale';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('ragplane_keep_partitions ' || parent)) THEN
        RETURN 'busy';
    END IF;
    PERFORM ragplane_ensure_partitions(parent, unit, ahead);
    PERFORM ragplane_drop_partitions(parent, column_name, keep);
    RETURN 'partitioned';
END $$;

-- A rollup of a time-series table: per `unit` bucket of `time_column`, grouped by `keys`.
-- TimescaleDB: a continuous aggregate refreshed by a policy over `lookback` every `every`.
-- Plain PostgreSQL: a materialized view (over the last `plain_window` only, when given, so its
-- refresh stays cheap however long the table is kept) that the owner refreshes CONCURRENTLY,
-- which needs the unique index made here. Nothing happens when the rollup exists.
CREATE OR REPLACE FUNCTION ragplane_create_rollup(name text, unit text, time_column text, source text, keys text,
                                                  aggregates text, lookback interval, every interval,
                                                  plain_window interval)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ts constant boolean := ragplane_timescale();
    bucket constant text := CASE WHEN ts THEN format('time_bucket(%L::interval, %I)', '1 ' || unit, time_column)
                                 ELSE format('date_trunc(%L, %I, ''UTC'')', unit, time_column) END;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    -- A continuous aggregate cannot be filled inside a transaction (each migration is one):
    -- it is created empty and its policy fills it. A materialized view is filled at once.
    EXECUTE format(
        'CREATE MATERIALIZED VIEW %I %s AS SELECT %s AS bucket, %s, %s FROM %I %s GROUP BY %s, %s %s',
        name, CASE WHEN ts THEN 'WITH (timescaledb.continuous)' ELSE '' END, bucket, keys, aggregates, source,
        CASE WHEN ts OR plain_window IS NULL THEN ''
             ELSE format('WHERE %I > now() - %L::interval', time_column, plain_window) END,
        bucket, keys, CASE WHEN ts THEN 'WITH NO DATA' ELSE '' END);
    IF ts THEN
        PERFORM add_continuous_aggregate_policy(name::regclass, start_offset => lookback, end_offset => NULL,
                                                schedule_interval => every);
    ELSE
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (bucket, %s)', name || '_key', name, keys);
    END IF;
END $$;
