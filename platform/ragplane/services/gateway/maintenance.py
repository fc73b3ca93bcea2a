"""Maintenance mode (Kong's `request-termination` plugin, switchable at run time).

While on, every API route answers 503 problem+json with the operator's message and
`Retry-After`; `/health`, `/metrics` and the web page keep answering, and the page shows
the message as a banner (it reads it from `/health`). The switch is `ragplane maintenance
on|off`, `PUT|DELETE /internal/maintenance` (service token) or `GATEWAY_MAINTENANCE=true`
at start. With Redis configured the state lives there, so every gateway replica follows
one switch; each replica reads it at most once a second, and keeps its last known state
while Redis cannot be read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ragplane.errors import ServiceUnavailable
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

REFRESH_S = 1.0
REDIS_TIMEOUT_S = 0.25

log = logging.getLogger("ragplane.gateway")


@dataclass(frozen=True)
class MaintenanceState:
    on: bool = False
    message: str = ""
    retry_after_s: int = 300
    since: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"status": "on" if self.on else "off", **({"message": self.message} if self.on else {})}


class InMaintenance(ServiceUnavailable):
    slug = "maintenance"


class Maintenance:
    def __init__(
        self,
        *,
        metrics: ServiceMetrics,
        initial: MaintenanceState,
        redis: Redis | None = None,
        key: str = "ragplane:maintenance",
    ) -> None:
        self.redis = redis
        self.key = key
        self._state = initial
        self._read_at = -REFRESH_S
        self._initial = initial
        self._gauge = metrics.gauge(catalog.GATEWAY_MAINTENANCE).labels()
        self._gauge.set(1 if initial.on else 0)

    async def start(self) -> None:
        """Publish a maintenance switched on at start (GATEWAY_MAINTENANCE) to the other replicas.

        Redis being unreachable then does not stop the gateway: this replica is in maintenance anyway.
        """
        if self._initial.on:
            try:
                await self._store(self._initial)
            except ServiceUnavailable as exc:
                log.warning("maintenance: cannot publish the switch to Redis (%s); this replica is in it", exc)

    async def current(self) -> MaintenanceState:
        if self.redis is None or time.monotonic() - self._read_at < REFRESH_S:
            return self._state
        self._read_at = time.monotonic()
        try:
            raw = await self.redis.get(self.key)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("maintenance: cannot read the switch from Redis (%s); keeping the last known state", exc)
            return self._state
        try:
            self._set(MaintenanceState(**json.loads(raw)) if raw else MaintenanceState())
        except (ValueError, TypeError) as exc:  # not what a gateway wrote: keep serving, say so
            log.warning("maintenance: ignoring an unreadable switch in Redis key %s (%s)", self.key, exc)
        return self._state

    async def check(self) -> None:
        """Raise the 503 every API route answers while maintenance is on."""
        state = await self.current()
        if state.on:
            raise InMaintenance(state.message, retry_after=state.retry_after_s, maintenance=True)

    async def switch_on(self, message: str, retry_after_s: int) -> MaintenanceState:
        state = MaintenanceState(True, message, retry_after_s, time.time())
        await self._store(state)
        log.warning("maintenance mode on: %s", message, extra={"fields": {"event": "maintenance", "on": True}})
        return state

    async def switch_off(self) -> MaintenanceState:
        state = MaintenanceState()
        await self._store(state)
        log.warning("maintenance mode off", extra={"fields": {"event": "maintenance", "on": False}})
        return state

    async def _store(self, state: MaintenanceState) -> None:
        if self.redis is not None:
            try:
                if state.on:
                    await self.redis.set(self.key, json.dumps(asdict(state)))
                else:
                    await self.redis.delete(self.key)
            except (RedisError, OSError, TimeoutError) as exc:
                raise ServiceUnavailable(
                    "The maintenance switch is shared through Redis, which cannot be reached; nothing changed.",
                    retry_after=5,
                ) from exc
        self._set(state)
        self._read_at = time.monotonic()

    def _set(self, state: MaintenanceState) -> None:
        self._state = state
        self._gauge.set(1 if state.on else 0)
