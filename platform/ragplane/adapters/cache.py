"""Caches: a bounded in-process LRU, or a shared Redis backend, behind one metered front.

Both expire entries after `CACHE_TTL_S`, a bound on staleness should a collection change
ever fail to reach the cache key (see `touch` in the collections service).

`Cache` is what services use. It counts every lookup (`hit`, `miss`, `error`) and keeps
`ragplane_cache_entries` current; calls to a remote backend go through the service's
`cache` circuit breaker, and any failure is logged, counted as `error` and treated as a
miss: a broken cache makes search slower, never broken.
"""

from __future__ import annotations

import json
import logging
import time
from array import array
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from cachetools import TTLCache
from redis.asyncio import Redis

from ragplane.adapters.guarded import Guard
from ragplane.adapters.rediscache import RedisBackend
from ragplane.errors import CircuitOpen
from ragplane.settings import CacheSettings
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

V = TypeVar("V")
T = TypeVar("T")

log = logging.getLogger("ragplane.cache")


class Backend(Protocol[V]):
    kind: str

    async def get(self, key: str) -> V | None: ...

    async def put(self, key: str, value: V) -> int:
        """Store; return the number of entries now held."""

    async def clear(self) -> int: ...


class MemoryBackend(Generic[V]):
    """In process: the `capacity` most recently used entries (cachetools' TTLCache, an LRU whose
    entries also expire after `ttl_s`, as they do in Redis). Use it from the event loop only."""

    kind = "memory"

    def __init__(self, capacity: int, ttl_s: float = float("inf")) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.entries: TTLCache[str, V] = TTLCache(maxsize=capacity, ttl=ttl_s, timer=time.monotonic)

    async def get(self, key: str) -> V | None:
        return self.entries.get(key)

    async def put(self, key: str, value: V) -> int:
        self.entries[key] = value
        return len(self.entries)

    async def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        return count


class Cache(Generic[V]):
    """A named, metered cache over a backend; remote backends are guarded and may fail safely."""

    def __init__(self, name: str, backend: Backend[V], metrics: ServiceMetrics, guard: Guard | None = None) -> None:
        self.name = name
        self.backend = backend
        self.guard = guard
        self.requests = metrics.counter(catalog.CACHE_REQUESTS)
        self.requests.prime(cache=name)
        self.entries = metrics.gauge(catalog.CACHE_ENTRIES).labels(cache=name)
        self.errors = 0

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend.kind, "errors": self.errors}

    async def get(self, key: str) -> V | None:
        try:
            value = await self._run(lambda: self.backend.get(key))
        except Exception as exc:
            self._failed("get", exc)
            return None
        self.requests.labels(cache=self.name, result="miss" if value is None else "hit").inc()
        return value

    async def put(self, key: str, value: V) -> None:
        try:
            self.entries.set(await self._run(lambda: self.backend.put(key, value)))
        except Exception as exc:
            self._failed("put", exc)

    async def clear(self) -> int:
        count = await self._run(self.backend.clear)
        self.entries.set(0)
        return count

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await (fn() if self.guard is None else self.guard.call(fn))

    def _failed(self, operation: str, exc: Exception) -> None:
        self.errors += 1
        self.requests.labels(cache=self.name, result="error").inc()
        # While the breaker is open every lookup fails the same way; the breaker logs that once.
        log.log(
            logging.DEBUG if isinstance(exc, CircuitOpen) else logging.WARNING,
            "cache %s %s failed, bypassed: %s",
            self.name,
            operation,
            exc,
            extra={"fields": {"event": "cache_error", "cache": self.name}},
        )


def encode_vector(vector: list[float]) -> bytes:
    return array("f", vector).tobytes()


def decode_vector(raw: bytes) -> list[float]:
    return array("f", raw).tolist()


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def decode_json(raw: bytes) -> Any:
    return json.loads(raw)


def new_cache(
    name: str,
    *,
    settings: CacheSettings,
    metrics: ServiceMetrics,
    redis: Redis | None,
    guard: Guard,
    encode: Callable[[V], bytes],
    decode: Callable[[bytes], V],
) -> Cache[V]:
    """The in-process LRU, or Redis (shared by replicas, guarded by the `cache` breaker) when configured."""
    if redis is None:
        return Cache(name, MemoryBackend[V](settings.cache_entries, settings.cache_ttl_s), metrics)
    backend = RedisBackend(
        redis,
        f"{settings.redis_key_prefix}:cache:{name}",
        capacity=settings.cache_entries,
        ttl_s=settings.cache_ttl_s,
        encode=encode,
        decode=decode,
    )
    return Cache(name, backend, metrics, guard)
