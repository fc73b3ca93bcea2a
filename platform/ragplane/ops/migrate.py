"""`ragplane migrate [--check]`: bring the database schema up to date (creating the database
first when it does not exist, as `createdb` would), or with `--check` say where it stands.

The database holds two services' tables, each with its own migrations and history: the
collections service's (registry, ingestion jobs) and the query service's (query log). Both are
migrated here, in that order; each service also migrates its own at start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from ragplane.adapters.migrations import load_migrations, migrate, status
from ragplane.errors import MigrationError
from ragplane.redaction import redacted_url
from ragplane.services.collections.registry.migrations import SCHEMA as REGISTRY
from ragplane.services.query.migrations import SCHEMA as QUERY_LOG
from ragplane.settings import Settings

SCHEMAS = (REGISTRY, QUERY_LOG)


def command(settings: Settings, *, check: bool, say: Callable[[str], None]) -> int:
    """0 when the schema is (now) current, 1 when --check finds it behind or it cannot migrate, 2
    without a DATABASE_URL."""
    url = settings.database.database_url
    if not url:
        say("ragplane: DATABASE_URL is not set: there is no database to migrate")
        return 2
    try:
        return asyncio.run(run(url, check=check, say=say))
    except MigrationError as exc:
        say(f"ragplane: {exc}")
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        say(f"ragplane: cannot migrate {redacted_url(url)}: {exc}")
        return 1


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
        return await (_check(conn, say) if check else _apply(conn, say))
    finally:
        await conn.close()


async def _check(conn: asyncpg.Connection, say: Callable[[str], None]) -> int:
    pending = 0
    for schema in SCHEMAS:
        shipped = load_migrations(schema)
        names = {m.version: m.name for m in shipped}
        current = await status(conn, schema, shipped)
        for version, applied_at in current.applied.items():
            say(f"  applied  {schema.owner}/{version:04d}_{names[version]}  at {applied_at:%Y-%m-%d %H:%M:%S %Z}")
        for migration in current.pending:
            say(f"  pending  {schema.owner}/{migration.version:04d}_{migration.name}")
        pending += len(current.pending)
    say(f"schema is behind: {pending} pending" if pending else "schema is current")
    return 1 if pending else 0


async def _apply(conn: asyncpg.Connection, say: Callable[[str], None]) -> int:
    applied = 0
    for schema in SCHEMAS:
        for migration in await migrate(conn, schema):
            say(f"  applied  {schema.owner}/{migration.version:04d}_{migration.name}")
            applied += 1
    say(f"schema is current ({applied} applied now)")
    return 0
