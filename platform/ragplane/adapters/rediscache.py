"""A cache backend in Redis, shared by every replica of a service.

Entries expire after a TTL and the cache holds at most `capacity` entries: an index
sorted set records when each key was last used, and a Lua script evicts the least
recently used keys on every write, so Redis never grows without bound even without a
`maxmemory` policy. Socket timeouts are short (a cache that answers slowly is worse than
none); every Redis failure becomes `DependencyUnavailable("cache", ...)`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from ragplane.errors import DependencyUnavailable

V = TypeVar("V")
REDIS_TIMEOUT_S = 0.25
MAX_CONNECTIONS = 64  # per process; the gateway's rate limiter uses at most half

PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  for i = 1, #old, 500 do
    redis.call('DEL', unpack(old, i, math.min(i + 499, #old)))
  end
end
return redis.call('ZCARD', KEYS[2])
"""

GET = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
end
return value
"""

CLEAR = """
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #keys, 500 do
  redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('DEL', KEYS[1])
return #keys
"""


def connect(url: str, *, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    """A client whose pool is bounded and makes callers wait (up to the timeout) for a free connection:
    redis-py's default pool is unbounded, so a burst would open a connection per request."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=REDIS_TIMEOUT_S,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
    return aioredis.Redis.from_pool(pool)


class RedisBackend(Generic[V]):
    kind = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        *,
        capacity: int,
        ttl_s: float,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
    ) -> None:
        self.client = client
        self.prefix = f"{{{namespace}}}:"  # a hash tag keeps a cache's keys in one cluster slot
        self.index = self.prefix + "index"
        self.capacity = capacity
        self.ttl_s = max(1, int(ttl_s))
        self.encode = encode
        self.decode = decode
        self._get = client.register_script(GET)
        self._put = client.register_script(PUT)
        self._clear = client.register_script(CLEAR)

    def _key(self, key: str) -> str:
        return self.prefix + hashlib.sha256(key.encode()).hexdigest()

    async def get(self, key: str) -> V | None:
        try:  # a hit is touched: recently used, and its TTL starts again
            raw = await self._get(keys=[self._key(key), self.index], args=[time.time(), self.ttl_s])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return None if raw is None else self.decode(raw)

    async def put(self, key: str, value: V) -> int:
        try:
            count: Any = await self._put(
                keys=[self._key(key), self.index], args=[self.encode(value), self.ttl_s, time.time(), self.capacity]
            )
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return int(count)

    async def clear(self) -> int:
        try:
            return int(await self._clear(keys=[self.index]))
        except RedisError as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: RedisError) -> DependencyUnavailable:
    timed_out = isinstance(exc, RedisTimeout)
    return DependencyUnavailable(
        "cache", f"Redis failed ({type(exc).__name__})", kind="timeout" if timed_out else "unreachable"
    )
