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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

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


async def create_database(url: str) -> str:
    """Create the database `url` names, from the server's `postgres` database; returns its name."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
    finally:
        await admin.close()
    return name


async def run(url: str, *, check: bool, say: Callable[[str], None]) -> int:
    """`ragplane migrate [--check]`: 0 when the schema is (now) current, 1 when --check finds it behind.

    Without --check a missing database is created first, as `createdb` would.
    """
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        if check:
            raise
        say(f"  created  database {await create_database(url)}")
        conn = await asyncpg.connect(url, timeout=10)
    try:
        if check:
            shipped = load_migrations()
            names = {m.version: m.name for m in shipped}
            current = await status(conn, shipped)
            for version, applied_at in current.applied.items():
                say(f"  applied  {version:04d}_{names[version]}  at {applied_at:%Y-%m-%d %H:%M:%S %Z}")
            for migration in current.pending:
                say(f"  pending  {migration.version:04d}_{migration.name}")
            say("schema is current" if current.current else f"schema is behind: {len(current.pending)} pending")
            return 0 if current.current else 1
        applied = await migrate(conn)
        for migration in applied:
            say(f"  applied  {migration.version:04d}_{migration.name}")
        say(f"schema is current ({len(applied)} applied now)")
        return 0
    finally:
        await conn.close()
