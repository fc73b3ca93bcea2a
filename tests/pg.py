"""Throwaway PostgreSQL databases for tests, on the real server at 127.0.0.1:5432.

Each gets a unique name, both services' shipped migrations applied (unless asked not to), and is
dropped (sessions forcibly closed) afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg

from ragplane.adapters.migrations import migrate
from ragplane.ops.migrate import SCHEMAS

SERVER = os.environ.get("RAGPLANE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def url_of(name: str) -> str:
    return f"{SERVER}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(url_of("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for schema in SCHEMAS:  # both owners' tables, as `ragplane migrate` makes them
            await migrate(conn, schema)
    finally:
        await conn.close()


def _sync(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` to completion on its own loop in a thread (callers may be inside a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def drop_database(name: str) -> None:
    _sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def temporary_database(*, migrated: bool = True, prefix: str = "rp_test") -> Iterator[str]:
    """A new empty (or migrated) database; yields its URL and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _sync(_admin(f'CREATE DATABASE "{name}"'))
    try:
        if migrated:
            _sync(_migrate(url_of(name)))
        yield url_of(name)
    finally:
        drop_database(name)


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()
