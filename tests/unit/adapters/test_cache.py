import asyncio

import pytest

from ragplane.adapters.cache import (
    Cache,
    MemoryBackend,
    decode_json,
    decode_vector,
    encode_json,
    encode_vector,
)
from ragplane.errors import DependencyUnavailable
from ragplane.telemetry.metrics import ServiceMetrics


def test_least_recently_used_entries_go_first() -> None:
    async def scenario() -> None:
        backend: MemoryBackend[int] = MemoryBackend(2)
        await backend.put("a", 1)
        await backend.put("b", 2)
        assert await backend.get("a") == 1
        assert await backend.put("c", 3) == 2
        assert await backend.get("b") is None and await backend.get("a") == 1 and await backend.get("c") == 3
        assert await backend.clear() == 2 and len(backend.entries) == 0

    asyncio.run(scenario())


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryBackend(0)


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_lookups_are_counted_and_entries_published() -> None:
    metrics = ServiceMetrics("query")
    cache: Cache[int] = Cache("numbers", MemoryBackend(10), metrics)
    assert sample(metrics, "ragplane_cache_requests_total", cache="numbers", result="error") == 0

    async def scenario() -> None:
        assert await cache.get("a") is None
        await cache.put("a", 1)
        await cache.put("b", 2)
        assert await cache.get("a") == 1
        assert await cache.clear() == 2

    asyncio.run(scenario())
    assert sample(metrics, "ragplane_cache_requests_total", cache="numbers", result="hit") == 1
    assert sample(metrics, "ragplane_cache_requests_total", cache="numbers", result="miss") == 1
    assert sample(metrics, "ragplane_cache_entries", cache="numbers") == 0
    assert cache.describe() == {"backend": "memory", "errors": 0}


class Broken:
    kind = "redis"

    async def get(self, key: str) -> int | None:
        raise DependencyUnavailable("cache", "Redis failed (ConnectionError)", kind="unreachable")

    async def put(self, key: str, value: int) -> int:
        raise DependencyUnavailable("cache", "Redis failed (ConnectionError)", kind="unreachable")

    async def clear(self) -> int:
        return 0


def test_a_broken_backend_is_bypassed_and_counted() -> None:
    metrics = ServiceMetrics("query")
    calls = []

    class Guard:
        async def call(self, fn):
            calls.append(fn)
            return await fn()

    cache: Cache[int] = Cache("numbers", Broken(), metrics, Guard())

    async def scenario() -> None:
        assert await cache.get("a") is None
        await cache.put("a", 1)

    asyncio.run(scenario())
    assert len(calls) == 2, "remote calls go through the guard"
    assert sample(metrics, "ragplane_cache_requests_total", cache="numbers", result="error") == 2
    assert cache.describe() == {"backend": "redis", "errors": 2}


def test_codecs_round_trip() -> None:
    vector = [0.5, -1.25, 3.0]
    assert decode_vector(encode_vector(vector)) == vector
    assert len(encode_vector(vector)) == 12
    value = [{"id": "x", "score": 0.5, "payload": {"t": "é"}}]
    assert decode_json(encode_json(value)) == value


def test_memory_entries_expire() -> None:
    async def scenario() -> tuple:
        backend: MemoryBackend[int] = MemoryBackend(10, ttl_s=0.05)
        await backend.put("a", 1)
        fresh = await backend.get("a")
        await asyncio.sleep(0.06)
        return fresh, await backend.get("a")

    assert asyncio.run(scenario()) == (1, None)
