"""Rate limits in process and against the real Redis on 127.0.0.1:6379 (one key prefix per test)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from ragplane.adapters.rediscache import connect
from ragplane.errors import ServiceUnavailable
from ragplane.kit.problems import problem_from_error
from ragplane.services.gateway.ratelimit import (
    TIMEOUTS_FOR_OUTAGE,
    Decision,
    Limits,
    MemoryRateLimiter,
    RateLimiter,
    RateLimitExceeded,
    RedisRateLimiter,
    build_rate_limiter,
)
from ragplane.settings import GatewaySettings
from ragplane.telemetry.metrics import ServiceMetrics

pytestmark = pytest.mark.anyio

REDIS = "redis://127.0.0.1:6379/0"
PLANS = {"free": 100, "pro": 1000}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = connect(REDIS)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    name = f"rp-test-{uuid.uuid4().hex}"
    yield name
    async for key in redis.scan_iter(f"{name}:*"):
        await redis.delete(key)


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (bound, then released), so connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def on_redis(redis: Redis, prefix: str, metrics: ServiceMetrics | None = None, **kw: Any) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis, prefix=prefix, policy="fail_open", metrics=metrics or ServiceMetrics("gateway"), **kw
    )


def errors(metrics: ServiceMetrics, policy: str) -> float | None:
    return metrics.registry.get_sample_value("ragplane_gateway_rate_limit_errors_total", {"policy": policy})


async def clear_of_boundary(redis: Redis, window_s: int, margin_s: float) -> None:
    """Wait, if needed, until a window of the Redis clock has at least `margin_s` left."""
    seconds, micros = await redis.time()
    left = window_s - (seconds + micros / 1e6) % window_s
    if left < margin_s:
        await asyncio.sleep(left + 0.05)


# --- Decision and the 429 ---------------------------------------------------------------


def test_decision_headers_are_exactly_kongs() -> None:
    decision = Decision(allowed=True, limit=100, remaining=42, reset_s=23)
    assert decision.headers() == {
        "X-RateLimit-Limit-Minute": "100",
        "X-RateLimit-Remaining-Minute": "42",
        "RateLimit-Limit": "100",
        "RateLimit-Remaining": "42",
        "RateLimit-Reset": "23",
    }
    assert decision.retry_after == 23


def test_the_429_is_a_problem_with_retry_after_and_the_headers() -> None:
    error = RateLimitExceeded(Decision(False, 100, 0, 23), "free")
    response = problem_from_error(error, instance="/api/v1/query", trace_id=None)
    body = json.loads(bytes(response.body))
    assert response.status_code == 429 and response.media_type == "application/problem+json"
    assert body["type"] == "urn:ragplane:problem:rate-limited" and body["title"] == "Too Many Requests"
    assert body["detail"] == "The free plan allows 100 requests per minute; retry in 23 s."
    assert body["plan"] == "free"
    assert response.headers["retry-after"] == "23"
    assert response.headers["ratelimit-remaining"] == "0" and response.headers["x-ratelimit-limit-minute"] == "100"


# --- In process -------------------------------------------------------------------------


async def test_memory_limit_remaining_and_reset() -> None:
    limiter = MemoryRateLimiter(clock=Clock(600.0 + 37.2))  # 37.2 s into a minute
    decisions = [await limiter.hit("alice", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.reset_s for d in decisions} == {23} and decisions[0].limit == 3
    assert (await limiter.hit("bob", 3)).remaining == 2  # counts are per key
    assert limiter.describe() == {"backend": "memory", "status": "up", "errors": 0, "keys": 2}


async def test_memory_window_rolls_over_and_old_windows_are_pruned() -> None:
    clock = Clock(600.0)
    limiter = MemoryRateLimiter(clock=clock)
    for key in ("a", "b", "c"):
        await limiter.hit(key, 1)
    assert not (await limiter.hit("a", 1)).allowed
    clock.now = 659.999
    assert not (await limiter.hit("a", 1)).allowed and (await limiter.hit("a", 1)).reset_s == 1
    clock.now = 660.0
    decision = await limiter.hit("a", 1)
    assert decision.allowed and decision.remaining == 0 and decision.reset_s == 60
    assert limiter.describe()["keys"] == 1  # b and c belonged to the old window
    await limiter.close()
    assert limiter.describe()["keys"] == 0


async def test_memory_is_exact_under_concurrency() -> None:
    limiter = MemoryRateLimiter(clock=Clock(600.0))
    decisions = await asyncio.gather(*(limiter.hit("crowd", 100) for _ in range(1000)))
    assert sum(d.allowed for d in decisions) == 100


# --- Limits: plans, the 429 and its metric ----------------------------------------------


async def test_limits_refuse_over_the_plan_and_count_by_plan() -> None:
    metrics = ServiceMetrics("gateway")
    limits = Limits(MemoryRateLimiter(clock=Clock(600.0)), {"free": 2, "pro": 5}, metrics)

    def refused(plan: str) -> float | None:
        return metrics.registry.get_sample_value("ragplane_gateway_rate_limited_total", {"plan": plan})

    assert refused("free") == 0 and refused("pro") == 0  # primed from the plans
    assert (await limits.check("ip:10.0.0.1", "free")).remaining == 1
    await limits.check("ip:10.0.0.1", "free")
    with pytest.raises(RateLimitExceeded) as caught:
        await limits.check("ip:10.0.0.1", "free")
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "60"
    assert caught.value.headers["RateLimit-Limit"] == "2" and refused("free") == 1
    assert (await limits.check("alice", "pro")).limit == 5
    assert (await limits.check("mallory", "platinum")).limit == 2  # unknown plans get the default
    assert refused("platinum") is None


def test_limits_need_the_default_plan_among_the_plans() -> None:
    with pytest.raises(ValueError, match="default plan"):
        Limits(MemoryRateLimiter(), {"pro": 1000}, ServiceMetrics("gateway"), default_plan="free")


async def test_build_rate_limiter_follows_the_settings(redis: Redis) -> None:
    metrics = ServiceMetrics("gateway")
    off = GatewaySettings(rate_limit_enabled=False)
    assert build_rate_limiter(off, redis=redis, prefix="p", metrics=metrics) is None
    assert isinstance(build_rate_limiter(GatewaySettings(), redis=None, prefix="p", metrics=metrics), MemoryRateLimiter)
    closed = GatewaySettings(rate_limit_failure_policy="fail_closed")
    shared = build_rate_limiter(closed, redis=redis, prefix="p", metrics=metrics)
    assert isinstance(shared, RedisRateLimiter) and shared.policy == "fail_closed"
    assert shared.describe() == {"backend": "redis", "status": "up", "policy": "fail_closed", "errors": 0}


# --- Redis ------------------------------------------------------------------------------


async def test_redis_limit_remaining_and_reset(redis: Redis, prefix: str) -> None:
    await clear_of_boundary(redis, 60, 2.0)
    limiter = on_redis(redis, prefix)
    decisions = [await limiter.hit("alice", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    (key,) = [k async for k in redis.scan_iter(f"{prefix}:rl:alice:*")]
    ttl_ms = await redis.pttl(key)
    assert 0 < ttl_ms <= 60_000 and decisions[-1].reset_s - 1 <= ttl_ms / 1000 <= decisions[-1].reset_s
    assert int(await redis.get(key) or 0) == 4  # refused hits count too, as in Kong
    await limiter.close()
    assert await redis.ping()  # close leaves the shared client alone


async def test_two_gateways_share_one_limit(redis: Redis, prefix: str) -> None:
    await clear_of_boundary(redis, 60, 2.0)
    other = connect(REDIS)  # a second gateway has a client of its own
    try:
        first, second = on_redis(redis, prefix), on_redis(other, prefix)
        assert (await first.hit("alice", 2)).remaining == 1
        assert (await second.hit("alice", 2)).remaining == 0
        assert not (await first.hit("alice", 2)).allowed
        assert not (await second.hit("alice", 2)).allowed
    finally:
        await other.aclose()


async def test_redis_window_rolls_over(redis: Redis, prefix: str) -> None:
    limiter = on_redis(redis, prefix, window_s=1)
    await clear_of_boundary(redis, 1, 0.9)
    assert [(await limiter.hit("a", 2)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(1.0)
    decision = await limiter.hit("a", 2)
    assert decision.allowed and decision.remaining == 1


async def test_redis_is_exact_under_concurrency(redis: Redis, prefix: str) -> None:
    await clear_of_boundary(redis, 60, 5.0)
    metrics = ServiceMetrics("gateway")
    # A generous call timeout: this is about exact counts and a full pool, not about slow answers,
    # which a busy test machine gives 1000 concurrent calls past the production 0.25 s.
    limiter = on_redis(redis, prefix, metrics, timeout_s=30)
    decisions = await asyncio.gather(*(limiter.hit("crowd", 100) for _ in range(1000)))
    assert 99 <= sum(d.allowed for d in decisions) <= 101
    assert errors(metrics, "fail_open") == 0  # a full connection pool must not look like a Redis outage


async def test_redis_down_fails_open_and_counts(free_port: int, caplog: pytest.LogCaptureFixture) -> None:
    metrics = ServiceMetrics("gateway")
    down = connect(f"redis://127.0.0.1:{free_port}/0")
    try:
        limiter = on_redis(down, "rp-test", metrics)
        with caplog.at_level(logging.WARNING, logger="ragplane.gateway"):
            decisions = [await limiter.hit("alice", 100) for _ in range(3)]
    finally:
        await down.aclose()
    assert all(d.allowed and d.remaining == 100 and 1 <= d.reset_s <= 60 for d in decisions)
    assert errors(metrics, "fail_open") == 3 and errors(metrics, "fail_closed") == 0
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # one warning per outage
    assert limiter.describe() == {
        "backend": "redis",
        "status": "down",
        "policy": "fail_open",
        "errors": 3,
        "last_error": "ConnectionError",
    }


async def test_redis_down_fails_closed_with_503(free_port: int) -> None:
    metrics = ServiceMetrics("gateway")
    down = connect(f"redis://127.0.0.1:{free_port}/0")
    try:
        limiter = RedisRateLimiter(down, prefix="rp-test", policy="fail_closed", metrics=metrics)
        with pytest.raises(ServiceUnavailable) as caught:
            await Limits(limiter, PLANS, metrics).check("alice", "free")
    finally:
        await down.aclose()
    assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "1"}
    assert errors(metrics, "fail_closed") == 1 and errors(metrics, "fail_open") == 0


async def serve(port: int, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Server:
    server = Server(handle)
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", port)
    return server


class Server:
    """A TCP server on a chosen port that closes its connections when it stops."""

    def __init__(self, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self._handle = handle
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await self._handle(reader, writer)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


async def forward_to_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
        dst.close()

    try:
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    except ConnectionError:
        pass
    finally:
        up_writer.close()


async def test_describe_goes_down_then_up_again(free_port: int, redis: Redis, prefix: str) -> None:
    client = connect(f"redis://127.0.0.1:{free_port}/0")
    limiter = on_redis(client, prefix)
    server = None
    try:
        await limiter.hit("alice", 10)
        assert limiter.describe()["status"] == "down"
        server = await serve(free_port, forward_to_redis)  # Redis comes back on that port
        decision = await limiter.hit("alice", 10)
    finally:
        await client.aclose()
        if server is not None:
            await server.stop()
    assert decision.allowed and decision.remaining == 9
    assert limiter.describe() == {"backend": "redis", "status": "up", "policy": "fail_open", "errors": 1}


async def test_a_hanging_redis_times_out_and_only_one_request_probes_it(free_port: int) -> None:
    accepted = 0

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while await reader.read(65536):
            pass

    server = await serve(free_port, hang)
    client = connect(f"redis://127.0.0.1:{free_port}/0")
    metrics = ServiceMetrics("gateway")
    limiter = on_redis(client, "rp-test", metrics, timeout_s=0.1)
    try:
        assert (await limiter.hit("alice", 5)).allowed
        assert limiter.describe()["status"] == "up"  # one slow answer is not an outage
        for _ in range(TIMEOUTS_FOR_OUTAGE - 1):
            assert (await limiter.hit("alice", 5)).allowed
        assert limiter.describe()["last_error"] == "timeout"  # timeouts in a row are
        before = accepted
        decisions = await asyncio.gather(*(limiter.hit("alice", 5) for _ in range(10)))
    finally:
        await client.aclose()
        await server.stop()
    assert all(d.allowed for d in decisions) and errors(metrics, "fail_open") == TIMEOUTS_FOR_OUTAGE + 10
    assert accepted - before <= 1  # at most one probe; the others got the policy without waiting on Redis


async def test_both_backends_are_rate_limiters(redis: Redis) -> None:
    limiters: list[RateLimiter] = [MemoryRateLimiter(), on_redis(redis, "rp-test")]
    assert [x.describe()["backend"] for x in limiters] == ["memory", "redis"]
