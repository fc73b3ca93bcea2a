"""Versioned SQL migrations, one history per service that owns tables in the database.

Each owning service ships a `Schema`: a package of files `NNNN_name.sql`, applied in version
order, each in its own transaction together with its row in the schema's history table
(version, name, checksum, applied_at): a migration is applied completely or not at all. The
collections service owns the registry and ingestion tables (history `schema_migrations`), the
query service owns the query log (history `query_schema_migrations`); each migrates its own at
start, and `ragplane migrate` runs both.

A session advisory lock makes concurrent runs (several replicas of either service starting at
once) take turns. Under it the shared functions (`postgres_functions.sql`: TimescaleDB or
partitions, rollups) are (re)defined first, so every schema's migrations may call them. The
files are idempotent too (`IF NOT EXISTS`), so a half-restored database or a hand-applied file
does not wedge the next run.

An applied migration whose file has changed since is an error, not something to re-apply: the
database no longer matches the code, and an operator must look. The one exception is a file
split between owners (`Schema.superseded`): the database that applied the older text holds the
same objects, so that text's checksum is accepted too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

from ragplane.adapters.postgres import Connection
from ragplane.errors import MigrationError, SchemaBehind

LOCK_KEY = 0x72616770  # "ragp": one advisory lock id for every ragplane migrate
FUNCTIONS = resources.files(__package__ or "ragplane.adapters").joinpath("postgres_functions.sql")


@dataclass(frozen=True)
class Schema:
    """The tables one service owns: where its migration files are and which table records them."""

    owner: str
    package: str
    history: str
    # version -> checksums of earlier texts of that file that the database may hold
    superseded: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def history_table(self) -> str:
        return f"""
        CREATE TABLE IF NOT EXISTS {self.history} (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )"""


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


def load_migrations(schema: Schema) -> list[Migration]:
    """The migrations `schema` ships, in version order."""
    found = []
    for entry in resources.files(schema.package).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version, _, name = entry.name.removesuffix(".sql").partition("_")
        found.append(Migration(int(version), name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two {schema.owner} migrations share a version: {versions}")
    return found


async def status(conn: Connection, schema: Schema, migrations: list[Migration] | None = None) -> Status:
    """What is applied, and what is pending; fails when an applied migration was changed."""
    migrations = load_migrations(schema) if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", schema.history)
    rows = await conn.fetch(f"SELECT version, checksum, applied_at FROM {schema.history}") if exists else []  # noqa: S608
    applied = {r["version"]: r for r in rows}
    known = {m.version: m for m in migrations}
    for version, row in applied.items():
        if version not in known:
            raise MigrationError(
                f"the database has {schema.owner} migration {version}, which this ragplane does not know: "
                "it is older than the schema"
            )
        accepted = {known[version].checksum} | schema.superseded.get(version, frozenset())
        if row["checksum"] not in accepted:
            raise MigrationError(
                f"{schema.owner} migration {version}_{known[version].name} was changed after it was applied "
                f"(checksum {row['checksum'][:12]} in the database, {known[version].checksum[:12]} shipped)"
            )
    return Status(
        applied={v: r["applied_at"] for v, r in sorted(applied.items())},
        pending=[m for m in migrations if m.version not in applied],
    )


async def migrate(conn: Connection, schema: Schema, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply `schema`'s pending migrations, each in a transaction; returns those applied now."""
    migrations = load_migrations(schema) if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(FUNCTIONS.read_text(encoding="utf-8"))
        await conn.execute(schema.history_table())
        pending = (await status(conn, schema, migrations)).pending  # read under the lock: another run may be done
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {schema.history} (version, name, checksum) VALUES ($1, $2, $3)",  # noqa: S608
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def ensure_current(conn: Connection, schema: Schema, *, apply: bool) -> None:
    """At a service's start: apply `schema`'s pending migrations, or (`apply` off, when operators
    run `ragplane migrate` themselves) refuse with SchemaBehind while any are pending."""
    if apply:
        await migrate(conn, schema)
        return
    try:
        pending = (await status(conn, schema)).pending
    except MigrationError as exc:
        raise SchemaBehind(str(exc)) from exc
    if pending:
        names = ", ".join(f"{m.version}_{m.name}" for m in pending)
        raise SchemaBehind(f"the {schema.owner} schema is behind ({names} pending): run `ragplane migrate`")
