"""BACKUP_SCHEDULE: the collections service backs every collection up at the times a cron
expression names (daily at 02:00 by default; parsed by croniter), one replica at a time.

Replicas that share `BACKUP_DIR` take turns through an exclusive lock on a file in it: the one
that gets it runs, the others skip that run (they would only write the same archives twice).
A collection that fails does not stop the others; each outcome is journalled
(`backup_journal.py`), and `RagplaneBackupFailing` / `RagplaneBackupStale` watch the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from ragplane.services.collections.backups import Backups

LOCK = ".schedule.lock"

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


async def run_once(backups: Backups) -> list[dict[str, Any]]:
    """Back up every collection, unless another replica is at it; what was written."""
    with exclusive(backups.folder) as held:
        if not held:
            log.info("another replica holds the backup lock: this run is its")
            return []
        written = []
        for record in await backups.registry.list_collections():
            with contextlib.suppress(Exception):  # journalled by create(); the others still go
                written.append(await backups.create(record.name))
        return written


async def run_schedule(
    backups: Backups,
    schedule: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Sleep until each time `schedule` names, then `run_once`; until cancelled."""
    times = croniter(schedule, now())
    while True:
        due: datetime = times.get_next(datetime)
        await sleep(max(0.0, (due - now()).total_seconds()))
        await run_once(backups)
