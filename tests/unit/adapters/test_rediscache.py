"""The Redis cache backend against the real Redis on 127.0.0.1:6379."""

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from ragplane.adapters.cache import decode_json, encode_json
from ragplane.adapters.rediscache import RedisBackend, connect
from ragplane.errors import DependencyUnavailable

REDIS = "redis://127.0.0.1:6379/0"


def backend(client: aioredis.Redis, capacity: int = 3, ttl_s: float = 60) -> RedisBackend:
    return RedisBackend(
        client, f"test-{uuid.uuid4().hex}", capacity=capacity, ttl_s=ttl_s, encode=encode_json, decode=decode_json
    )


def run(scenario):
    async def wrapper():
        client = connect(REDIS)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return asyncio.run(wrapper())


def test_put_get_and_clear() -> None:
    async def scenario(client: aioredis.Redis) -> None:
        cache = backend(client)
        assert await cache.get("k") is None
        assert await cache.put("k", {"v": [1, 2]}) == 1
        assert await cache.get("k") == {"v": [1, 2]}
        ttl = await client.ttl(cache._key("k"))
        assert 0 < ttl <= 60
        assert await cache.clear() == 1
        assert await cache.get("k") is None
        assert await client.exists(cache.index) == 0

    run(scenario)


def test_the_least_recently_used_keys_are_evicted_at_capacity() -> None:
    async def scenario(client: aioredis.Redis) -> None:
        cache = backend(client, capacity=3)
        for key in "abc":
            await cache.put(key, key)
            await asyncio.sleep(0.01)
        assert await cache.get("a") == "a"  # a is now the most recently used
        assert await cache.put("d", "d") == 3
        assert await cache.get("b") is None
        assert [await cache.get(k) for k in "acd"] == ["a", "c", "d"]
        assert await client.exists(cache._key("b")) == 0
        await cache.clear()

    run(scenario)


def test_an_unreachable_redis_is_unavailable_quickly() -> None:
    async def scenario(client: aioredis.Redis) -> None:
        cache = backend(client)
        with pytest.raises(DependencyUnavailable) as caught:
            await cache.get("k")
        assert caught.value.dependency == "cache" and caught.value.kind in ("unreachable", "timeout")
        with pytest.raises(DependencyUnavailable):
            await cache.put("k", 1)
        with pytest.raises(DependencyUnavailable):
            await cache.clear()

    async def dead(client: aioredis.Redis) -> None:
        broken = connect("redis://127.0.0.1:9/0")  # discard port: nothing listens
        try:
            await scenario(broken)
        finally:
            await broken.aclose()

    run(dead)
