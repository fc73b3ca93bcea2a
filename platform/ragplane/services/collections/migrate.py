"""Versioned SQL migrations for the registry database.

Migrations are the files `migrations/NNNN_name.sql`, applied in version order, each in
its own transaction together with its row in `schema_migrations` (version, name,
checksum, applied_at): a migration is applied completely or not at all. A session
advisory lock makes concurrent `migrate` runs (several replicas starting at once) take
turns. The files are idempotent too (`IF NOT EXISTS`), so a half-restored database or a
hand-applied file does not wedge the next run.

An applied migration whose file has changed since is an error, not something to
re-apply: the database no longer matches the code, and an operator must look.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from ragplane.adapters.postgres import Connection

MIGRATIONS_PACKAGE = "ragplane.services.collections.migrations"
LOCK_KEY = 0x72616770  # "ragp": one advisory lock id for every ragplane migrate

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The database's schema history does not match the migrations shipped with this version."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Status:
    applied: dict[int, datetime]
    pending: list[Migration]

    @property
    def current(self) -> bool:
        return not self.pending


def load_migrations() -> list[Migration]:
    """The shipped migrations, in version order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version, _, name = entry.name.removesuffix(".sql").partition("_")
        found.append(Migration(int(version), name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


async def status(conn: Connection, migrations: list[Migration] | None = None) -> Status:
    """What is applied, and what is pending; fails when an applied migration was changed."""
    migrations = load_migrations() if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    rows = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations") if exists else []
    applied = {r["version"]: r for r in rows}
    known = {m.version: m for m in migrations}
    for version, row in applied.items():
        if version not in known:
            raise MigrationError(
                f"the database has migration {version}, which this ragplane does not know: it is older than the schema"
            )
        if row["checksum"] != known[version].checksum:
            raise MigrationError(
                f"migration {version}_{known[version].name} was changed after it was applied "
                f"(checksum {row['checksum'][:12]} in the database, {known[version].checksum[:12]} shipped)"
            )
    return Status(
        applied={v: r["applied_at"] for v, r in sorted(applied.items())},
        pending=[m for m in migrations if m.version not in applied],
    )


async def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations, each in a transaction; returns those applied now."""
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(SCHEMA_TABLE)
        pending = (await status(conn, migrations)).pending  # read under the lock: another run may have finished
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
