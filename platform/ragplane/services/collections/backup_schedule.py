"""BACKUP_SCHEDULE: the collections service backs every collection up at the times a cron
expression names (daily at 02:00 by default; parsed by croniter), one replica at a time.

With PostgreSQL, replicas take turns through an advisory lock in the database they share,
wherever they run; without it — or while it is unavailable — through an exclusive lock on a file
in `BACKUP_DIR`. The replica that gets the lock runs, the others skip that run (they would only
write the same archives twice).
A collection that fails does not stop the others; each outcome is journalled
(`backup_journal.py`), and `RagplaneBackupFailing` / `RagplaneBackupStale` watch the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from ragplane.errors import DependencyUnavailable
from ragplane.services.collections.backups import Backups
from ragplane.services.collections.registry.postgres import PostgresRegistry

LOCK = ".schedule.lock"
ADVISORY_LOCK = 0x7261_6770_6C62_6B70  # "ragplbkp": the key every replica's scheduled backup asks for

log = logging.getLogger("ragplane.backups")


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[bool]:
    """Whether this process holds the backup directory's schedule lock (never waits for it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def one_replica(backups: Backups, database: PostgresRegistry | None) -> AsyncIterator[bool]:
    """Whether this replica runs now: the database's advisory lock, or the backup directory's file."""
    async with contextlib.AsyncExitStack() as stack:
        held: bool | None = None
        if database is not None:
            try:
                held = await stack.enter_async_context(database.advisory_lock(ADVISORY_LOCK))
            except DependencyUnavailable as exc:
                log.warning("cannot take the backup lock in PostgreSQL (%s): the lock file decides", exc)
        if held is None:
            held = stack.enter_context(exclusive(backups.folder))
        yield held


async def run_once(backups: Backups, database: PostgresRegistry | None = None) -> list[dict[str, Any]]:
    """Back up every collection, unless another replica is at it; what was written."""
    async with one_replica(backups, database) as held:
        if not held:
            log.info("another replica holds the backup lock: this run is its")
            return []
        written, _ = await backups.create_all()
        return written


async def run_schedule(
    backups: Backups,
    schedule: str,
    *,
    database: PostgresRegistry | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Sleep until each time `schedule` names, then `run_once`; until cancelled."""
    times = croniter(schedule, now())
    while True:
        due: datetime = times.get_next(datetime)
        await sleep(max(0.0, (due - now()).total_seconds()))
        await run_once(backups, database)
