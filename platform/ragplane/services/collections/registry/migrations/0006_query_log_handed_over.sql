-- The query log (table, rollups, upkeep) belongs to the query service from this version on:
-- its own migrations create it and its own upkeep keeps it. The collections service's
-- combined upkeep function, which kept both tables, goes; each owner now calls
-- ragplane_keep_partitions for its own table.

DROP FUNCTION IF EXISTS ragplane_maintain(interval, interval);
