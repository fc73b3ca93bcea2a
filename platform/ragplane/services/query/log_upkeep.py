"""The query service's own tables: the query log's schema at start, its upkeep every round.

The query service writes `query_logs`, so it owns it: its migrations (`migrations/`) are applied
when the service starts (`DATABASE_MIGRATE_ON_START`, else checked), and every
`DATABASE_MAINTENANCE_S` one replica creates the coming days' partitions, drops those older
than `QUERY_LOG_RETENTION_DAYS` and refreshes the rollups (plain PostgreSQL; on TimescaleDB its
policies do all of it). None of this holds the service back: search works without a database,
so a database that is down or behind is logged and tried again, and entries written meanwhile
wait in the query log's buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ragplane.adapters.migrations import ensure_current
from ragplane.adapters.postgres import Pool
from ragplane.adapters.timeseries import TimeSeries, Upkeep
from ragplane.services.query.migrations import SCHEMA

QUERY_LOGS = TimeSeries("query_logs", "time", "day", 7, rollups={"query_stats_1m": 0.0, "query_gaps_1d": 3600.0})

log = logging.getLogger("ragplane.querylog")


class QueryLogUpkeep:
    """A background task: the schema made current once, then upkeep every `every_s`."""

    def __init__(
        self,
        pool: Callable[[], Pool | None],
        *,
        migrate_on_start: bool,
        every_s: float,
        retry_s: float,
        retention_days: int,
    ) -> None:
        self._pool = pool  # the query log's, made at its start
        self.migrate_on_start = migrate_on_start
        self.every_s = every_s
        self.retry_s = retry_s
        self.retention_days = retention_days
        self.schema_current = asyncio.Event()
        self._upkeep = Upkeep(QUERY_LOGS)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ragplane-query-log-upkeep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def round(self) -> str:
        """Make the schema current if it is not yet, then one upkeep round; what the round did."""
        pool = self._pool()
        if pool is None:
            raise RuntimeError("the query log has not started")
        async with pool.acquire() as conn:
            if not self.schema_current.is_set():
                await ensure_current(conn, SCHEMA, apply=self.migrate_on_start)
                self.schema_current.set()
            return await self._upkeep.run(conn, retention_days=self.retention_days)

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
                delay = self.every_s
            except Exception as exc:  # the database is down or behind: not an outage of search
                log.warning(
                    "query log upkeep failed: %s",
                    str(exc) or type(exc).__name__,
                    extra={"fields": {"event": "query_log_upkeep_failed"}},
                )
                delay = self.every_s if self.schema_current.is_set() else self.retry_s
            await asyncio.sleep(delay)
