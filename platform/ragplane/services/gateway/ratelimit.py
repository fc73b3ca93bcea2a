"""Per-plan rate limits with Kong's `rate-limiting` semantics: fixed one-minute windows.

A consumer (the token's `sub`, or the client IP when anonymous) may make `plans[plan]`
requests per wall-clock minute; the count starts again at the top of each minute, like
Kong's `minute` limit. Fixed windows were chosen over a sliding window or GCRA so the
numbers a client sees (`RateLimit-Remaining`, `RateLimit-Reset`) mean the same thing
behind this gateway as behind the Kong of the full stack.

With Redis configured the counts live there, so every gateway replica enforces one shared
limit: a Lua script counts a hit and reports the window's remaining time in one round
trip, and takes the time from the Redis server, so replicas with skewed clocks still agree
on where a minute starts. Without Redis the counts live in this process. When Redis fails,
the configured policy decides: `fail_open` lets the request through (counted, and shown as
"down" in /health), `fail_closed` answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from ragplane.errors import ServiceUnavailable, TooManyRequests
from ragplane.settings import GatewaySettings
from ragplane.settings.gateway import FailurePolicy
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

WINDOW_S = 60
TIMEOUTS_FOR_OUTAGE = 3
REDIS_TIMEOUT_S = 0.25

log = logging.getLogger("ragplane.gateway")

# KEYS[1]: the consumer's key without the window; ARGV[1]: the window length in ms.
# Returns {count in this window, ms until the window ends}. TIME makes the script
# non-deterministic, which Redis ≥ 5 replicates by effects (the INCR/PEXPIRE), so it is safe;
# `replicate_commands` asks older servers for the same. The window key is derived inside the
# script (it depends on the server's clock); it shares KEYS[1]'s prefix, so a `{hash tag}` in
# the prefix keeps both in one cluster slot.
HIT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window_ms = tonumber(ARGV[1])
local window = math.floor(now_ms / window_ms)
local key = KEYS[1] .. ':' .. string.format('%d', window)
local count = redis.call('INCR', key)
local left_ms = (window + 1) * window_ms - now_ms
if count == 1 then
  redis.call('PEXPIRE', key, left_ms)
end
return {count, left_ms}
"""


@dataclass(frozen=True)
class Decision:
    """The verdict on one request and what the client is told about its budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the current window ends, >= 1

    @property
    def retry_after(self) -> int:
        """`Retry-After` for a 429: the next window is the first that can admit the request."""
        return self.reset_s

    def headers(self) -> dict[str, str]:
        """Kong's headers, on every API response (Kong sends both the legacy and the draft-RFC set)."""
        return {
            "X-RateLimit-Limit-Minute": str(self.limit),
            "X-RateLimit-Remaining-Minute": str(self.remaining),
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


def _decision(count: int, limit: int, left_s: float) -> Decision:
    # Every hit is counted, refused ones too (as Kong does): a client that keeps hammering
    # stays refused until the window ends instead of slipping in as others give up.
    return Decision(count <= limit, limit, max(0, limit - count), max(1, math.ceil(left_s)))


class RateLimitExceeded(TooManyRequests):
    """429: the consumer's plan has no requests left in this window; the detail and headers say so."""

    def __init__(self, decision: Decision, plan: str) -> None:
        detail = f"The {plan} plan allows {decision.limit} requests per minute; retry in {decision.retry_after} s."
        headers = {"Retry-After": str(decision.retry_after), **decision.headers()}
        super().__init__(detail, headers=headers, plan=plan)
        self.decision = decision


class RateLimiter(Protocol):
    """Counts hits per key in fixed windows; one instance per gateway process."""

    async def hit(self, key: str, limit: int) -> Decision: ...

    def describe(self) -> dict[str, Any]:
        """For /health: `backend`, `status` (up|down) and `errors`."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counts in this process: exact for one gateway, but each replica would count apart.

    Only the current window's counts are kept (older ones are dropped the first time a hit
    lands in a new window), so memory is bounded by the consumers seen in one minute.
    Hits need no lock: nothing awaits between reading and writing a count.
    """

    backend = "memory"

    def __init__(self, *, window_s: int = WINDOW_S, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s  # other than 60 only in tests: the headers say "Minute"
        self._clock = clock  # wall time, so windows start on the minute as Kong's do
        self._window = -1
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, count)

    async def hit(self, key: str, limit: int) -> Decision:
        now = self._clock()
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        start, count = self._counts.get(key, (window, 0))
        count = count + 1 if start == window else 1
        self._counts[key] = (window, count)
        return _decision(count, limit, (window + 1) * self.window_s - now)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "up", "errors": 0, "keys": len(self._counts)}

    async def close(self) -> None:
        self._counts.clear()


class RedisRateLimiter:
    """Counts in Redis, shared by every gateway replica that uses the same `prefix`.

    Keys are `{prefix}:rl:{key}:{window}` and expire when their window ends. Each Redis call
    is cut off after `timeout_s`: a limiter that waits on a sick Redis would turn a store
    outage into a gateway outage, whatever the policy says. For the same reason, while Redis
    is down only one request at a time probes it; the others get the policy at once.

    At most `max_in_flight` calls run at a time (default: half the client's pool, leaving
    the rest to maintenance and other users of the shared client): redis-py's asyncio pool
    raises instead of waiting when it is full, which a burst would turn into store "errors"
    and, under `fail_open`, into unlimited requests. A queued call is not a store failure,
    so the wait for a slot is not part of `timeout_s`.
    """

    backend = "redis"

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        policy: FailurePolicy,
        metrics: ServiceMetrics,
        window_s: int = WINDOW_S,
        timeout_s: float = REDIS_TIMEOUT_S,
        max_in_flight: int | None = None,
    ) -> None:
        self.redis = redis  # shared with the rest of the app, which closes it
        self.prefix = prefix
        self.policy = policy
        self.window_s = window_s  # other than 60 only in tests: the headers say "Minute"
        self.timeout_s = timeout_s
        self._script = redis.register_script(HIT)
        self._slots = asyncio.Semaphore(max_in_flight or max(1, redis.connection_pool.max_connections // 2))
        self._errors = metrics.counter(catalog.GATEWAY_RATE_LIMIT_ERRORS)
        self._error_count = 0
        self._last_error: str | None = None  # set while Redis is down
        self._timeouts = 0  # in a row
        self._probing = False

    async def hit(self, key: str, limit: int) -> Decision:
        async with self._slots:
            if self._last_error is not None and self._probing:
                return self._unanswered(limit)
            self._probing = probe = self._last_error is not None
            try:
                async with asyncio.timeout(self.timeout_s):
                    count, left_ms = await self._script(keys=[f"{self.prefix}:rl:{key}"], args=[self.window_s * 1000])
            except (RedisTimeout, TimeoutError) as exc:
                # One slow answer on a loaded host is not an outage: this request gets the policy and
                # the next ones still ask Redis; only timeouts in a row mark it down (a hung Redis).
                self._timeouts += 1
                return self._unanswered(limit, exc, outage=self._timeouts >= TIMEOUTS_FOR_OUTAGE)
            except (RedisError, OSError) as exc:
                return self._unanswered(limit, exc)
            finally:
                if probe:
                    self._probing = False
        self._timeouts = 0
        if self._last_error is not None:
            log.info("rate limiting: Redis answers again", extra={"fields": {"event": "rate_limit_store_up"}})
            self._last_error = None
        return _decision(int(count), limit, int(left_ms) / 1000)

    def _unanswered(self, limit: int, exc: BaseException | None = None, *, outage: bool = True) -> Decision:
        """The policy's answer when Redis could not be asked (`exc` is None: a probe is already out).

        `outage`: the failure marks Redis down, so other requests stop asking until a probe succeeds.
        """
        self._error_count += 1
        self._errors.labels(policy=self.policy).inc()
        if exc is not None and outage:
            if self._last_error is None:  # one warning per outage, not one per request
                log.warning(
                    "rate limiting: Redis failed (%s); applying %s until it answers again",
                    _describe_error(exc),
                    self.policy,
                    extra={"fields": {"event": "rate_limit_store_down", "policy": self.policy}},
                )
            self._last_error = _describe_error(exc)
        if self.policy == "fail_closed":
            raise ServiceUnavailable(
                "Rate limits cannot be checked right now, so requests are refused; retry in a moment.", retry_after=1
            ) from exc
        left_s = self.window_s - time.time() % self.window_s  # this host's clock: Redis's is out of reach
        return Decision(True, limit, limit, max(1, math.ceil(left_s)))

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "backend": self.backend,
            "status": "down" if self._last_error else "up",
            "policy": self.policy,
            "errors": self._error_count,
        }
        if self._last_error:
            status["last_error"] = self._last_error
        return status

    async def close(self) -> None:
        """Nothing to release: the Redis client belongs to the app, which shares it."""


def _describe_error(exc: BaseException) -> str:
    # Never the exception's full text: a connection error may echo the URL, password included.
    return "timeout" if isinstance(exc, (TimeoutError, RedisTimeout)) else type(exc).__name__


def build_rate_limiter(
    settings: GatewaySettings, *, redis: Redis | None, prefix: str, metrics: ServiceMetrics
) -> RateLimiter | None:
    """The limiter the settings ask for: None when disabled, Redis when configured, else memory."""
    if not settings.rate_limit_enabled:
        return None
    if redis is None:
        return MemoryRateLimiter()
    return RedisRateLimiter(redis, prefix=prefix, policy=settings.rate_limit_failure_policy, metrics=metrics)


class Limits:
    """What the edge calls: the consumer's plan limit, enforced, and refusals counted by plan."""

    def __init__(
        self, limiter: RateLimiter, plans: Mapping[str, int], metrics: ServiceMetrics, *, default_plan: str = "free"
    ) -> None:
        if default_plan not in plans:
            raise ValueError(f"the default plan {default_plan!r} is not one of the plans {sorted(plans)}")
        self.limiter = limiter
        self.plans = dict(plans)
        self.default_plan = default_plan
        self._refused = metrics.counter(catalog.GATEWAY_RATE_LIMITED)
        for plan in self.plans:  # so every plan's series exists at 0 before its first refusal
            self._refused.labels(plan=plan)

    async def check(self, consumer_id: str, plan: str) -> Decision:
        """The decision for one request; raises `RateLimitExceeded` (429) when it is over the limit.

        A plan this gateway does not know gets the default plan's limit (and label), so a
        token minted for another deployment cannot grow the metric's series or skip limits.
        """
        name = plan if plan in self.plans else self.default_plan
        decision = await self.limiter.hit(consumer_id, self.plans[name])
        if not decision.allowed:
            self._refused.labels(plan=name).inc()
            raise RateLimitExceeded(decision, name)
        return decision
