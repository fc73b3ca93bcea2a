"""The collections service's tables: the registry (collections, documents, chunks) and ingestion jobs.

Files `NNNN_name.sql`, applied by `ragplane.adapters.migrations` with their history in
`schema_migrations`. 0002 and 0003 once created the query log and its rollups as well; that
table is the query service's now, and a database that applied their earlier texts holds the same
objects, so those checksums are accepted.
"""

from ragplane.adapters.migrations import Schema

SCHEMA = Schema(
    owner="collections",
    package=__name__,
    history="schema_migrations",
    superseded={
        2: frozenset({"0cf6a02794101551287777f08774ea78236cde81cca0f2880a2784be59a105ff"}),
        3: frozenset({"36bc449c555b66f103a2875aa0e46095f7f8217a0c607288dce2f4dfef531f52"}),
    },
)
