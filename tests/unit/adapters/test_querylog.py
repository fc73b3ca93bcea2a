"""The query log writer against the real PostgreSQL on 127.0.0.1:5432 (one fresh database per test).

Outages are made with a TCP proxy the test cuts (tests/proxy.py); slowness with another session holding
an ACCESS EXCLUSIVE lock on query_logs. Timing assertions are structural (the flush is
still blocked in PostgreSQL while record() calls return) or generous upper bounds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from ragplane.adapters.postgres import create_pool
from ragplane.adapters.querylog import QueryLog, QueryLogEntry, normalise_query, query_hash
from ragplane.telemetry.metrics import ServiceMetrics
from tests.pg import fetch
from tests.proxy import Proxy, proxy_to


def entry(
    text: str, *, kind: Any = "search", results: int = 3, latency_s: float = 0.012, **fields: Any
) -> QueryLogEntry:
    return QueryLogEntry.of(kind, "docs", text, results=results, latency_s=latency_s, **fields)


def writer(url: str, metrics: ServiceMetrics, **options: Any) -> QueryLog:
    timeout_s = options.pop("timeout_s", 5.0)
    options = {"batch_size": 100, "flush_s": 0.05, "capacity": 1000, "retry_s": (0.05, 0.2), **options}
    return QueryLog(
        lambda: create_pool(url, size=2, timeout_s=timeout_s, application="test-querylog"),
        metrics=metrics,
        timeout_s=timeout_s,
        owns_pool=True,
        **options,
    )


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def sample(metrics: ServiceMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


async def eventually(condition: Callable[[], Awaitable[bool] | bool], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def texts(url: str) -> list[str]:
    return [r["query_text"] for r in await fetch(url, "SELECT query_text FROM query_logs ORDER BY time, query_text")]


async def count(url: str) -> int:
    return int((await fetch(url, "SELECT count(*) AS n FROM query_logs"))[0]["n"])


def test_query_hash_ignores_case_and_spacing() -> None:
    assert normalise_query("  How do  I\tROTATE\nsecrets? ") == "how do i rotate secrets?"
    assert query_hash("How do I rotate secrets?") == query_hash("  how do i   rotate SECRETS? ")
    assert query_hash("rotate secrets") != query_hash("rotate secret")
    assert len(query_hash("x")) == 64


def test_entries_land_in_query_logs_with_their_columns(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> None:
        qlog = writer(database_url, metrics)
        await qlog.start()
        qlog.record(entry("How  do I rotate secrets?", results=4, latency_s=0.25, cache_hit=True, trace_id="ab" * 16))
        qlog.record(entry("what is\x00 a breaker", kind="query", degraded=True, results=0, status=503))
        await eventually(lambda: qlog.written == 2)
        await qlog.close()
        rows = await fetch(database_url, "SELECT * FROM query_logs ORDER BY kind DESC")
        assert [dict(r) | {"time": None} for r in rows] == [
            {
                "time": None,
                "collection": "docs",
                "kind": "search",
                "query_hash": query_hash("how do i rotate secrets?"),
                "query_text": "How  do I rotate secrets?",
                "results": 4,
                "latency_s": 0.25,
                "cache_hit": True,
                "degraded": False,
                "status": 200,
                "trace_id": "ab" * 16,
            },
            {
                "time": None,
                "collection": "docs",
                "kind": "query",
                "query_hash": query_hash("what is a breaker"),
                "query_text": "what is a breaker",
                "results": 0,
                "latency_s": 0.012,
                "cache_hit": False,
                "degraded": True,
                "status": 503,
                "trace_id": None,
            },
        ]
        assert all(r["time"].tzinfo is not None for r in rows)

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_query_log_written_total") == 2
    assert sample(metrics, "ragplane_query_log_dropped_total") == 0
    assert sample(metrics, "ragplane_query_log_buffered_entries") == 0


def test_a_full_batch_is_written_without_waiting_for_the_interval(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> None:
        qlog = writer(database_url, metrics, batch_size=5, flush_s=60)
        await qlog.start()
        for i in range(7):
            qlog.record(entry(f"q{i}"))
        await eventually(lambda: qlog.written == 5)
        assert await count(database_url) == 5
        await asyncio.sleep(0.3)  # far below the 60 s interval: the partial batch waits
        assert qlog.written == 5 and qlog.buffered == 2
        assert sample(metrics, "ragplane_query_log_buffered_entries") == 2
        await qlog.close()  # close writes the rest
        assert await count(database_url) == 7

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_query_log_written_total") == 7


def test_a_partial_batch_is_written_once_the_interval_has_passed(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> float:
        qlog = writer(database_url, metrics, batch_size=100, flush_s=0.4)
        await qlog.start()
        started = time.monotonic()
        qlog.record(entry("only one"))
        await eventually(lambda: qlog.written == 1)
        waited = time.monotonic() - started
        await qlog.close()
        assert await texts(database_url) == ["only one"]
        return waited

    assert asyncio.run(scenario()) >= 0.4  # not before the interval (an upper bound would be luck)


def test_a_down_database_buffers_drops_the_oldest_and_catches_up(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = ServiceMetrics("query")

    async def scenario(proxy: Proxy) -> None:
        qlog = writer(proxy.url(database_of(database_url)), metrics, capacity=5, batch_size=2)
        await qlog.start()
        for i in range(8):
            qlog.record(entry(f"q{i}"))  # never raises, never waits
        assert qlog.buffered == 5 and qlog.dropped == 3
        await eventually(lambda: not qlog.healthy)
        assert qlog.describe()["status"] == "down" and qlog.describe()["error"]
        await asyncio.sleep(0.5)  # several retries fail meanwhile
        assert qlog.written == 0 and qlog.buffered == 5
        proxy.restore()
        await eventually(lambda: qlog.written == 5)
        assert qlog.healthy and qlog.describe()["status"] == "up"
        assert await texts(database_url) == [f"q{i}" for i in range(3, 8)]
        await qlog.close()

    caplog.set_level(logging.INFO, logger="ragplane.querylog")
    with proxy_to() as proxy:
        proxy.cut()  # down from the start
        asyncio.run(scenario(proxy))
    assert sample(metrics, "ragplane_query_log_dropped_total") == 3
    assert sample(metrics, "ragplane_query_log_written_total") == 5
    assert sample(metrics, "ragplane_query_log_buffered_entries") == 0
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "ragplane.querylog"]
    assert [level for level, _ in messages] == ["WARNING", "INFO"], messages  # one per outage, not per retry
    assert "cannot write" in messages[0][1] and "writable again" in messages[1][1]


async def _lock(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await conn.execute("BEGIN; LOCK TABLE query_logs IN ACCESS EXCLUSIVE MODE")
    return conn


async def _flush_blocked(url: str) -> bool:
    """True while a session of the writer waits for the test's lock on query_logs."""
    rows = await fetch(
        url,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'ragplane-test-querylog'"
        " AND wait_event_type = 'Lock' AND datname = current_database()",
    )
    return bool(rows[0]["n"])


def test_a_slow_database_never_delays_record(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> None:
        qlog = writer(database_url, metrics, batch_size=2, capacity=5, timeout_s=60)
        await qlog.start()
        qlog.record(entry("warm-up"))  # the first write connects and caches its statement
        await eventually(lambda: qlog.written == 1)
        lock = await _lock(database_url)
        try:
            qlog.record(entry("e0"))
            qlog.record(entry("e1"))
            await eventually(lambda: _flush_blocked(database_url))
            started = time.perf_counter()
            for i in range(2, 1000):
                qlog.record(entry(f"e{i}"))
            took = time.perf_counter() - started
            # Structural: every call returned while the batch is still stuck behind the lock.
            assert await _flush_blocked(database_url) and qlog.written == 1
            assert took < 2.0  # ~1000 appends; microseconds each, seconds only if record() waited
            assert qlog.buffered == 5
        finally:
            await lock.execute("COMMIT")
            await lock.close()
        await eventually(lambda: qlog.written == 8)
        await qlog.close()
        # e0 and e1 were being written when newer entries pushed them out of the buffer: they still count as written.
        assert await texts(database_url) == ["warm-up", "e0", "e1", *(f"e{i}" for i in range(995, 1000))]

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_query_log_written_total") == 8
    assert sample(metrics, "ragplane_query_log_dropped_total") == 993  # e2..e994
    assert sample(metrics, "ragplane_query_log_buffered_entries") == 0


def test_a_write_that_outlasts_the_timeout_is_retried(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> None:
        qlog = writer(database_url, metrics, batch_size=1, timeout_s=0.5)
        await qlog.start()
        lock = await _lock(database_url)
        try:
            qlog.record(entry("late"))
            await eventually(lambda: not qlog.healthy)  # the write gave up after 0.5 s
            assert qlog.buffered == 1
        finally:
            await lock.execute("COMMIT")
            await lock.close()
        await eventually(lambda: qlog.written == 1)
        assert qlog.healthy
        await qlog.close()
        assert await texts(database_url) == ["late"]

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_query_log_dropped_total") == 0


def test_a_batch_the_server_rejects_is_dropped_not_retried_forever(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario() -> None:
        qlog = writer(database_url, metrics, batch_size=1)
        await qlog.start()
        qlog.record(entry("bad", kind="bogus"))  # violates the kind CHECK constraint
        qlog.record(entry("good"))
        await eventually(lambda: qlog.written == 1)
        await qlog.close()
        assert await texts(database_url) == ["good"]

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_query_log_dropped_total") == 1


def test_close_is_bounded_and_counts_what_it_could_not_write(database_url: str) -> None:
    metrics = ServiceMetrics("query")

    async def scenario(proxy: Proxy) -> float:
        qlog = writer(proxy.url(database_of(database_url)), metrics, timeout_s=1.0, retry_s=(30.0, 30.0))
        await qlog.start()
        for i in range(4):
            qlog.record(entry(f"q{i}"))
        await eventually(lambda: not qlog.healthy)
        started = time.monotonic()
        await qlog.close()  # cuts the 30 s backoff short, tries once more, gives up
        took = time.monotonic() - started
        qlog.record(entry("after close"))  # counted, not raised
        return took

    with proxy_to() as proxy:
        proxy.cut()
        took = asyncio.run(scenario(proxy))
    assert took < 10  # bounded by the 1 s timeout, not by the 30 s backoff
    assert sample(metrics, "ragplane_query_log_dropped_total") == 5
    assert sample(metrics, "ragplane_query_log_written_total") == 0
    assert sample(metrics, "ragplane_query_log_buffered_entries") == 0
