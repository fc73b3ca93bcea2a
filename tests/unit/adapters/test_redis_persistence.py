"""Redis's persistence status as gauges, read from a real Redis."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from ragplane.adapters.redis_persistence import PersistenceGauges, read_persistence
from ragplane.adapters.rediscache import connect
from ragplane.telemetry.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio


def value(metrics: ServiceMetrics, line_start: str) -> float:
    text = generate_latest(metrics.registry).decode()
    [line] = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


async def test_a_reading_sets_every_gauge() -> None:
    metrics = ServiceMetrics("gateway")
    client = connect("redis://127.0.0.1:6379/0")
    try:
        assert await read_persistence(client, PersistenceGauges(metrics))
    finally:
        await client.aclose()
    assert value(metrics, 'ragplane_redis_persistence_ok{operation="rdb_bgsave"') == 1
    assert value(metrics, 'ragplane_redis_persistence_ok{operation="aof_write"') == 1
    assert value(metrics, "ragplane_redis_rdb_last_save_timestamp_seconds") > 1_600_000_000


def test_failed_statuses_are_zeros() -> None:
    metrics = ServiceMetrics("gateway")
    PersistenceGauges(metrics).update(
        {"rdb_last_bgsave_status": "err", "aof_last_write_status": "err", "aof_current_size": 4096}
    )
    assert value(metrics, 'ragplane_redis_persistence_ok{operation="rdb_bgsave"') == 0
    assert value(metrics, 'ragplane_redis_persistence_ok{operation="aof_write"') == 0
    assert value(metrics, "ragplane_redis_aof_size_bytes") == 4096


async def test_an_unreachable_redis_leaves_the_gauges_as_they_were() -> None:
    metrics = ServiceMetrics("gateway")
    gauges = PersistenceGauges(metrics)
    gauges.update({"rdb_last_bgsave_status": "ok"})
    client = connect("redis://127.0.0.1:1/0")
    try:
        assert not await read_persistence(client, gauges)
    finally:
        await client.aclose()
    assert value(metrics, 'ragplane_redis_persistence_ok{operation="rdb_bgsave"') == 1
