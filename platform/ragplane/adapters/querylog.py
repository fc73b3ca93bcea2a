"""The query log: every search and Q&A, written to PostgreSQL's `query_logs` in batches.

A query must never wait for, or fail because of, its own log line. So `record()` is
synchronous and only appends to a bounded in-memory buffer; one background task writes
the buffer in batches (`COPY`, one statement per batch, bounded by the database timeout)
when a batch is full or `flush_s` after the first unwritten entry arrived.

When PostgreSQL is slow or down the entries stay in the buffer and the writer retries
with exponential backoff (capped at 30 s). The buffer keeps the newest `capacity`
entries: when it is full the oldest one is dropped and counted in
`ragplane_query_log_dropped_total`, because recent traffic is what an operator looks at
after an outage. An entry dropped while its batch is being written is counted only if
that write then fails, so written + dropped + buffered always accounts for every
recorded entry. One warning is logged per outage and one info line on recovery, not one
per attempt. A batch the server refuses for its content (a data or constraint error, not
an outage) is dropped and counted at once, so one bad row cannot stall the log forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from ragplane.adapters.postgres import Pool, unavailable
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

TABLE = "query_logs"
RETRY_FIRST_S = 0.5
RETRY_CAP_S = 30.0
# SQLSTATE classes that blame the rows, not the server: retrying the same batch cannot succeed.
_REJECTED_CLASSES = ("22", "23")  # data exception, integrity constraint violation

Kind = Literal["search", "query"]

log = logging.getLogger("ragplane.querylog")

_SPACES = re.compile(r"\s+")


def normalise_query(text: str) -> str:
    """The form two queries share when they ask the same thing: trimmed, single-spaced, casefolded."""
    return _SPACES.sub(" ", text.strip()).casefold()


def query_hash(text: str) -> str:
    """sha256 (hex) of the normalised query, so repeated questions group without comparing text."""
    return hashlib.sha256(normalise_query(text).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class QueryLogEntry:
    """One row of `query_logs`, fields in column order.

    `time` is a timezone-aware UTC datetime (when the request finished); `status` the HTTP
    status the client got; `trace_id` the request's OpenTelemetry trace, to find its spans.
    """

    time: datetime
    collection: str
    kind: Kind
    query_hash: str
    query_text: str
    results: int
    latency_s: float
    cache_hit: bool
    degraded: bool
    status: int
    trace_id: str | None

    @classmethod
    def of(
        cls,
        kind: Kind,
        collection: str,
        query: str,
        *,
        results: int,
        latency_s: float,
        cache_hit: bool = False,
        degraded: bool = False,
        status: int = 200,
        trace_id: str | None = None,
    ) -> QueryLogEntry:
        """An entry stamped now, hashing the query; NULs are removed since PostgreSQL text cannot hold them."""
        text = query.replace("\x00", "")
        return cls(
            time=datetime.now(UTC),
            collection=collection,
            kind=kind,
            query_hash=query_hash(text),
            query_text=text,
            results=results,
            latency_s=latency_s,
            cache_hit=cache_hit,
            degraded=degraded,
            status=status,
            trace_id=trace_id,
        )


COLUMNS = tuple(f.name for f in fields(QueryLogEntry))


class QueryLog:
    """A bounded buffer of entries and the task that writes them; `start()` it, `close()` it.

    `connect` makes (or returns) the pool at `start()`: an asyncpg pool belongs to the event
    loop it was created on, so a service makes its pool in its lifespan, not when the app is
    built. `owns_pool`: `close()` closes it too.
    """

    def __init__(
        self,
        connect: Callable[[], Pool],
        *,
        metrics: ServiceMetrics,
        batch_size: int = 200,
        flush_s: float = 1.0,
        capacity: int = 10_000,
        timeout_s: float = 5.0,
        owns_pool: bool = False,
        retry_s: tuple[float, float] = (RETRY_FIRST_S, RETRY_CAP_S),
    ) -> None:
        self._connect = connect
        self.pool: Pool | None = None
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.capacity = max(capacity, 1)
        self.timeout_s = timeout_s
        self.owns_pool = owns_pool
        self.retry_first_s, self.retry_cap_s = retry_s
        self._written = metrics.counter(catalog.QUERY_LOG_WRITTEN).labels()
        self._dropped = metrics.counter(catalog.QUERY_LOG_DROPPED).labels()
        self._buffered = metrics.gauge(catalog.QUERY_LOG_BUFFERED).labels()
        self._buffer: deque[QueryLogEntry] = deque()
        self._head = 0  # sequence number of _buffer[0]: how many entries ever left the buffer
        self._in_flight_end = 0  # entries with a sequence number below this are being written
        self._evicted_in_flight = 0  # of those, evicted by record(): dropped unless the write succeeds
        self._signal = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._outage_since: float | None = None
        self._last_error = ""
        self.written = 0
        self.dropped = 0

    # --- the request path: no awaits, no I/O --------------------------------------------

    def record(self, entry: QueryLogEntry) -> None:
        """Queue `entry` for writing; never blocks, never raises. A full buffer sheds its oldest entry."""
        if self._closed:
            self._drop(1)
            return
        if len(self._buffer) >= self.capacity:
            self._buffer.popleft()
            if self._head < self._in_flight_end:
                self._evicted_in_flight += 1
            else:
                self._drop(1)
            self._head += 1
        self._buffer.append(entry)
        self._buffered.set(len(self._buffer))
        if len(self._buffer) == 1 or len(self._buffer) >= self.batch_size:
            self._signal.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def healthy(self) -> bool:
        """False from the first failed write until the next successful one."""
        return self._outage_since is None

    def describe(self) -> dict[str, Any]:
        """For /health: `down` while writes fail (the service is degraded, not unready: search still works)."""
        detail: dict[str, Any] = {
            "status": "up" if self.healthy else "down",
            "buffered": len(self._buffer),
            "capacity": self.capacity,
            "written": self.written,
            "dropped": self.dropped,
        }
        if not self.healthy:
            detail["error"] = self._last_error
        return detail

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Initialise the pool (it connects on first use: a down database does not stop the service); start writing."""
        if self._task is not None:
            return
        self.pool = self._connect()
        if self.owns_pool:
            await self.pool
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ragplane-query-log")

    async def close(self) -> None:
        """Write what can be written within `timeout_s`, count the rest as dropped, stop, close an owned pool."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._signal.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), self.timeout_s)
            if not self._task.done():
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._buffer:
            log.warning("query log closing with %d entries unwritten; they are dropped", len(self._buffer))
            self._drop(len(self._buffer) + self._evicted_in_flight)
            self._buffer.clear()
            self._evicted_in_flight = 0
            self._buffered.set(0)
        if self.owns_pool and self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), self.timeout_s)
            except Exception:  # a connection stuck in a write: close it hard
                self.pool.terminate()

    # --- the writer ---------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._batch_due()
            if not self._buffer:
                return  # stopping, and nothing left
            if await self._write_batch():
                failures = 0
                continue
            if self._stopping.is_set():
                return  # close() counts what is left
            delay = min(self.retry_cap_s, self.retry_first_s * 2**failures)
            failures += 1
            # close() cuts the backoff short, for one last attempt.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _batch_due(self) -> None:
        """Wait until a batch is full or `flush_s` has passed since the oldest buffered entry was recorded.
        When stopping, return at once: close() wants everything written now."""
        while not self._buffer and not self._stopping.is_set():
            self._signal.clear()
            await self._signal.wait()
        while len(self._buffer) < self.batch_size and not self._stopping.is_set():
            age = (datetime.now(UTC) - self._buffer[0].time).total_seconds()
            remaining = min(self.flush_s, self.flush_s - age)  # min(): a clock stepping back cannot stretch it
            if remaining <= 0:
                return
            self._signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), remaining)

    async def _write_batch(self) -> bool:
        """Write the oldest batch; on success remove it from the buffer. Never raises (except cancellation)."""
        assert self.pool is not None, "start() first"
        count = min(self.batch_size, len(self._buffer))
        first = self._head
        batch = [astuple(self._buffer[i]) for i in range(count)]
        self._in_flight_end = first + count
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.pool.acquire() as conn:
                    await conn.copy_records_to_table(TABLE, records=batch, columns=COLUMNS, timeout=self.timeout_s)
        except asyncio.CancelledError:
            self._settle(first, count, written=False)
            raise
        except Exception as exc:
            if str(getattr(exc, "sqlstate", None) or "")[:2] in _REJECTED_CLASSES:
                log.error("query log: PostgreSQL rejected a batch of %d entries, dropping it: %s", count, exc)
                self._settle(first, count, written=False, discard=True)
                return True
            self._settle(first, count, written=False)
            self._failed(exc)
            return False
        self._settle(first, count, written=True)
        self._recovered()
        return True

    def _settle(self, first: int, count: int, *, written: bool, discard: bool = False) -> None:
        """Account for the batch [first, first + count) now that its write ended."""
        evicted, self._evicted_in_flight, self._in_flight_end = self._evicted_in_flight, 0, 0
        if written or discard:
            for _ in range(max(0, first + count - self._head)):
                self._buffer.popleft()
            self._head = max(self._head, first + count)
        if written:
            self.written += count
            self._written.inc(count)
        else:
            # Evicted entries never reached the table; with `discard` the rest of the batch did not either.
            self._drop(evicted + (count - evicted if discard else 0))
        self._buffered.set(len(self._buffer))

    def _drop(self, count: int) -> None:
        if count:
            self.dropped += count
            self._dropped.inc(count)

    def _failed(self, exc: BaseException) -> None:
        outage = unavailable(exc)
        reason = outage.message if outage else str(exc) or type(exc).__name__
        self._last_error = reason
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "query log: cannot write to PostgreSQL (%s); buffering up to %d entries and retrying",
                reason,
                self.capacity,
                extra={"fields": {"event": "query_log_down", "buffered": len(self._buffer)}},
            )

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        lasted = time.monotonic() - self._outage_since
        self._outage_since = None
        self._last_error = ""
        log.info(
            "query log: PostgreSQL is writable again after %.1f s; %d entries dropped so far",
            lasted,
            self.dropped,
            extra={"fields": {"event": "query_log_recovered", "outage_s": round(lasted, 3)}},
        )
