"""Upkeep of a time-series table and its rollups, for the service that owns them.

A time-series table (`ingestion_jobs`, `query_logs`) is a TimescaleDB hypertable, whose policies
keep it, or a partitioned table on plain PostgreSQL, which its owner keeps every
`DATABASE_MAINTENANCE_S`: future partitions created, expired ones dropped
(`ragplane_keep_partitions`, one replica at a time), then the rollups that are due refreshed
(materialized views, `CONCURRENTLY`: readers never block), each in its own statement. Upkeep may
take long on big tables, so it has its own timeout instead of the request timeout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ragplane.adapters.postgres import Connection

UPKEEP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class TimeSeries:
    table: str
    time_column: str
    unit: str  # partition size: day | month
    ahead: int  # partitions made ahead of now, in units
    # rollup -> at most how often it is refreshed (seconds; 0: every round)
    rollups: Mapping[str, float] = field(default_factory=dict)


class Upkeep:
    """One process's upkeep of `series`; remembers when it last refreshed each rollup."""

    def __init__(self, series: TimeSeries) -> None:
        self.series = series
        self._refreshed: dict[str, float] = {}

    async def run(self, conn: Connection, *, retention_days: int) -> str:
        """`partitioned` (done), `timescale` (its policies do all of it) or `busy` (another replica's round)."""
        s = self.series
        mode: str = await conn.fetchval(
            "SELECT ragplane_keep_partitions($1, $2, $3, $4, make_interval(days => $5))",
            s.table,
            s.time_column,
            s.unit,
            s.ahead,
            retention_days,
            timeout=UPKEEP_TIMEOUT_S,
        )
        if mode != "partitioned":
            return mode
        for name, period_s in s.rollups.items():
            if time.monotonic() - self._refreshed.get(name, -math.inf) < period_s:
                continue
            await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {name}", timeout=UPKEEP_TIMEOUT_S)
            self._refreshed[name] = time.monotonic()
        return mode
