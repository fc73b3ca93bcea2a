"""The query service's tables: the query log and its two rollups.

Files `NNNN_name.sql`, applied by `ragplane.adapters.migrations` with their history in
`query_schema_migrations`: by the query service at start (`DATABASE_MIGRATE_ON_START`) and by
`ragplane migrate`.
"""

from ragplane.adapters.migrations import Schema

SCHEMA = Schema(owner="query", package=__name__, history="query_schema_migrations")
