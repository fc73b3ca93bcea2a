"""PostgreSQL connection pools, and how their failures read to the rest of ragplane.

One asyncpg pool per service. It starts with no connections (`min_size=0`), so a
service whose database is down still starts (the registry serves its JSON snapshot and
the query log buffers); every connect and statement is bounded by `DATABASE_TIMEOUT_S`,
so a hung database costs a request that long at most, never forever.

`unavailable()` sorts asyncpg's exceptions: losing the server (refused, reset, timed out,
shutting down, too many connections) becomes `DependencyUnavailable`, which the services
answer with 503 and fall back on; anything else (a constraint, a bug in our SQL) stays
what it is.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from ragplane.errors import DependencyUnavailable

DEPENDENCY = "postgres"

# SQLSTATE classes that mean "the server is not there for us right now" (connection
# exception, insufficient resources, operator intervention), and a standby refusing writes.
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = ("25006",)  # read_only_sql_transaction: we reached a replica after a failover

Pool = asyncpg.Pool
# A plain connection or one borrowed from a pool: both run the same queries.
if TYPE_CHECKING:
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def create_pool(url: str, *, size: int, timeout_s: float, application: str) -> Pool:
    """An unopened pool: `await pool` (or the first `acquire`) connects."""
    return asyncpg.create_pool(
        url,
        min_size=0,
        max_size=size,
        timeout=timeout_s,
        command_timeout=timeout_s,
        max_inactive_connection_lifetime=60,
        init=_init_connection,
        server_settings={"application_name": f"ragplane-{application}"},
    )


def unavailable(exc: BaseException) -> DependencyUnavailable | None:
    """`exc` as a DependencyUnavailable when it means the database cannot be reached, else None."""
    if isinstance(exc, DependencyUnavailable):
        return exc
    if isinstance(exc, TimeoutError):
        return DependencyUnavailable(DEPENDENCY, "no answer in time", kind="timeout")
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.ConnectionDoesNotExistError):
        return DependencyUnavailable(DEPENDENCY, f"cannot reach the database: {_reason(exc)}", kind="unreachable")
    state = str(getattr(exc, "sqlstate", "") or "")
    if isinstance(exc, asyncpg.PostgresError) and (state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES):
        return DependencyUnavailable(DEPENDENCY, f"the database refused service: {_reason(exc)}", kind="unavailable")
    return None


def cannot_connect(exc: BaseException) -> DependencyUnavailable:
    """Any failure to get a connection (revoked CONNECT, pg_hba, password, dropped database)."""
    return DependencyUnavailable(DEPENDENCY, f"cannot connect to the database: {_reason(exc)}", kind="unreachable")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def describe_url(url: str) -> dict[str, Any]:
    """Where the pool points, without credentials (for /health and logs)."""
    parts = urlsplit(url)
    return {"host": parts.hostname, "port": parts.port or 5432, "database": parts.path.lstrip("/") or None}


@contextlib.asynccontextmanager
async def advisory_lock(conn: Connection, key: int) -> AsyncIterator[bool]:
    """Whether `conn`'s session holds advisory lock `key`, tried without waiting; released at the end."""
    held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
    try:
        yield held
    finally:
        if held:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
