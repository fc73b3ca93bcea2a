"""Query volume and latency per minute over the last hour: what the console's Activity view draws.

Two sources, one answer. With PostgreSQL, the query log's per-minute rollup
(`query_stats_1m`), which counts the requests of every query replica; this service's
upkeep (`log_upkeep.py`) refreshes it every round (`DATABASE_MAINTENANCE_S`), so its newest minute
may lag by that much. Without PostgreSQL — or while the rollup cannot be read — this
replica's own counts, kept per minute in memory as requests finish (`RecentActivity`): the
same numbers its metrics count, but over time, which a counter alone cannot show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from ragplane.adapters.querylog import Kind, QueryLog
from ragplane.kit.schemas import ModelResponse
from ragplane.kit.versioning import ApiRoute
from ragplane.services.query.schemas import ACTIVITY, WINDOW_MINUTES, ActivityBucket, ActivityQuery, ActivityResponse

ERROR_STATUS = 500  # a request that failed on the service's side, as the rollup counts errors
# What reading the rollup can raise when PostgreSQL is away or slow, or before its migrations ran.
ROLLUP_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

log = logging.getLogger("ragplane.query")

ROLLUP_SQL = """
SELECT (extract(epoch FROM bucket) / 60)::bigint AS minute, kind,
       sum(queries)::bigint AS requests, sum(latency_sum_s) AS latency_sum_s,
       max(latency_max_s) AS latency_max_s, sum(errors)::bigint AS errors
FROM query_stats_1m WHERE bucket >= to_timestamp($1::bigint * 60) GROUP BY 1, 2
"""


@dataclass(slots=True)
class Minute:
    """One minute's requests: searches and questions, those that failed, and their latency."""

    searches: int = 0
    questions: int = 0
    errors: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0

    def add(self, kind: Kind, requests: int, latency_sum_s: float, latency_max_s: float, errors: int) -> None:
        if kind == "search":
            self.searches += requests
        else:
            self.questions += requests
        self.errors += errors
        self.latency_sum_s += latency_sum_s
        self.latency_max_s = max(self.latency_max_s, latency_max_s)

    def bucket(self, minute: int) -> ActivityBucket:
        requests = self.searches + self.questions
        return ActivityBucket(
            minute=datetime.fromtimestamp(minute * 60, UTC).isoformat().replace("+00:00", "Z"),
            searches=self.searches,
            questions=self.questions,
            errors=self.errors,
            latency_avg_ms=round(self.latency_sum_s / requests * 1000, 2) if requests else None,
            latency_max_ms=round(self.latency_max_s * 1000, 2) if requests else None,
        )


class RecentActivity:
    """This replica's requests per minute, the last `WINDOW_MINUTES` of them, in memory.

    `record` is called once per finished request, on the event loop: a dict lookup and a few
    additions; minutes older than the window are dropped when a new minute begins.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._minutes: dict[int, Minute] = {}

    def now(self) -> int:
        """The current minute, as minutes since the epoch."""
        return int(self._clock() // 60)

    def record(self, kind: Kind, latency_s: float, status: int) -> None:
        minute = self.now()
        counts = self._minutes.get(minute)
        if counts is None:
            self._minutes = {m: c for m, c in self._minutes.items() if m > minute - WINDOW_MINUTES}
            counts = self._minutes[minute] = Minute()
        counts.add(kind, 1, latency_s, latency_s, int(status >= ERROR_STATUS))

    def since(self, first: int) -> dict[int, Minute]:
        return {m: c for m, c in self._minutes.items() if m >= first}


async def rollup_since(query_log: QueryLog, first: int) -> dict[int, Minute] | None:
    """The rollup's minutes from `first` on; None before the query log has its pool.
    Raises one of `ROLLUP_ERRORS` when PostgreSQL cannot answer."""
    if query_log.pool is None:
        return None
    minutes: dict[int, Minute] = {}
    rows = await query_log.pool.fetch(ROLLUP_SQL, first, timeout=query_log.timeout_s)
    for row in rows:
        minutes.setdefault(row["minute"], Minute()).add(
            row["kind"], row["requests"], row["latency_sum_s"] or 0.0, row["latency_max_s"] or 0.0, row["errors"]
        )
    return minutes


class ActivityApi:
    """`GET /rag/activity?minutes=N`: every minute of the window, oldest first, zeros included."""

    def __init__(self, recent: RecentActivity, query_log: QueryLog | None) -> None:
        self.recent = recent
        self.query_log = query_log

    def routes(self) -> list[ApiRoute]:
        return [ApiRoute("GET", "/rag/activity", self.activity, "Query volume and latency per minute", ACTIVITY)]

    async def activity(self, request: Request) -> Response:
        window = ActivityQuery.parse(request.query_params).minutes
        last = self.recent.now()
        first = last - window + 1
        source, minutes = "replica", self.recent.since(first)
        if self.query_log is not None:
            try:
                rollup = await rollup_since(self.query_log, first)
            except ROLLUP_ERRORS as exc:
                rollup = None
                log.warning("the query-log rollup cannot be read (%r); answering from this replica's counts", exc)
            if rollup is not None:
                source, minutes = "query_log", rollup
        return ModelResponse(
            ActivityResponse(
                source=source,
                minutes=window,
                buckets=[minutes.get(m, Minute()).bucket(m) for m in range(first, last + 1)],
            )
        )
