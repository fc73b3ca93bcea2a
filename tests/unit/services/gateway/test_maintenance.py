"""The maintenance switch, alone and shared by two gateways through the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ragplane.adapters.rediscache import connect
from ragplane.errors import ServiceUnavailable
from ragplane.services.gateway import maintenance as module
from ragplane.services.gateway.maintenance import InMaintenance, Maintenance, MaintenanceState
from ragplane.telemetry.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = connect("redis://127.0.0.1:6379/0")
    yield client
    await client.aclose()


def gauge(metrics: ServiceMetrics) -> float | None:
    return metrics.registry.get_sample_value("ragplane_gateway_maintenance")


async def test_on_and_off_in_process() -> None:
    metrics = ServiceMetrics("gateway")
    switch = Maintenance(metrics=metrics, initial=MaintenanceState())
    await switch.check()
    assert gauge(metrics) == 0

    await switch.switch_on("upgrading", 120)
    with pytest.raises(InMaintenance) as refused:
        await switch.check()

    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "120"
    assert refused.value.detail == "upgrading" and gauge(metrics) == 1
    await switch.switch_off()
    await switch.check()
    assert gauge(metrics) == 0


async def test_two_gateways_follow_one_switch_in_redis(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "REFRESH_S", 0.0)  # read Redis on every check
    key = f"rp-test-{uuid.uuid4().hex}:maintenance"
    first = Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState(), redis=redis, key=key)
    second = Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState(), redis=redis, key=key)
    try:
        await first.switch_on("database migration", 60)
        assert (await second.current()).message == "database migration"
        await second.switch_off()
        assert not (await first.current()).on
    finally:
        await redis.delete(key)


async def test_on_at_start_is_published(redis: Redis) -> None:
    key = f"rp-test-{uuid.uuid4().hex}:maintenance"
    started = Maintenance(
        metrics=ServiceMetrics("gateway"),
        initial=MaintenanceState(True, "starting in maintenance", 30),
        redis=redis,
        key=key,
    )
    try:
        await started.start()
        assert b"starting in maintenance" in await redis.get(key)
    finally:
        await redis.delete(key)


async def test_an_unreadable_redis_keeps_the_last_known_state() -> None:
    broken = connect("redis://127.0.0.1:1/0")
    switch = Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState(True, "kept", 30), redis=broken)
    try:
        assert (await switch.current()).message == "kept"
    finally:
        await broken.aclose()


async def test_redis_trouble_never_breaks_the_gateway(redis: Redis) -> None:
    broken = connect("redis://127.0.0.1:1/0")
    switch = Maintenance(
        metrics=ServiceMetrics("gateway"), initial=MaintenanceState(True, "on at start", 30), redis=broken
    )
    try:
        await switch.start()  # cannot publish: logged, and this replica is in maintenance anyway
        with pytest.raises(ServiceUnavailable, match="nothing changed"):
            await switch.switch_off()
        assert (await switch.current()).on
    finally:
        await broken.aclose()
    key = f"rp-test-{uuid.uuid4().hex}:maintenance"
    await redis.set(key, b"{not json")
    reader = Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState(), redis=redis, key=key)
    try:
        assert not (await reader.current()).on  # an unreadable key is ignored, not a 500 on every request
    finally:
        await redis.delete(key)
