"""`ragplane migrate [--check]`: bring the database schema up to date (creating the database
first when it does not exist, as `createdb` would), or with `--check` say where it stands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from ragplane.redaction import redacted_url
from ragplane.services.collections.migrate import MigrationError, load_migrations, migrate, status
from ragplane.settings import Settings


def command(settings: Settings, *, check: bool, say: Callable[[str], None]) -> int:
    """0 when the schema is (now) current, 1 when --check finds it behind or it cannot migrate, 2
    without a DATABASE_URL."""
    if not settings.database_url:
        say("ragplane: DATABASE_URL is not set: there is no database to migrate")
        return 2
    try:
        return asyncio.run(run(settings.database_url, check=check, say=say))
    except MigrationError as exc:
        say(f"ragplane: {exc}")
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        say(f"ragplane: cannot migrate {redacted_url(settings.database_url)}: {exc}")
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
