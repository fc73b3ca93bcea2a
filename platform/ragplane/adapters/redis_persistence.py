"""Redis's own word on its persistence, as gauges: whether its last snapshot and its last
append-only write succeeded, when it last saved, how many writes are not in a snapshot yet,
and how big the append-only file is (`INFO persistence`).

The gateway reads it every `REFRESH_S` while it runs with Redis (it holds the counters and the
maintenance switch whose loss matters); `RagplaneRedisBgsaveFailing` and
`RagplaneRedisAofWriteFailing` fire on the two statuses. A Redis that does not answer leaves
the last values in place: that Redis is down is for the rate limiter's and the caches' own
alerts to say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

REFRESH_S = 5.0  # cheap (INFO persistence); part of how fast the alerts can page

log = logging.getLogger("ragplane.redis")


class PersistenceGauges:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.ok = metrics.gauge(catalog.REDIS_PERSISTENCE_OK)
        self.last_save = metrics.gauge(catalog.REDIS_LAST_SAVE).labels()
        self.changes = metrics.gauge(catalog.REDIS_CHANGES).labels()
        self.aof_size = metrics.gauge(catalog.REDIS_AOF_SIZE).labels()

    def update(self, info: Mapping[str, Any]) -> None:
        self.ok.labels(operation="rdb_bgsave").set(info.get("rdb_last_bgsave_status") == "ok")
        self.ok.labels(operation="aof_write").set(info.get("aof_last_write_status", "ok") == "ok")
        self.last_save.set(info.get("rdb_last_save_time", 0))
        self.changes.set(info.get("rdb_changes_since_last_save", 0))
        self.aof_size.set(info.get("aof_current_size", 0))  # only present while appendonly is on


async def read_persistence(client: Redis, gauges: PersistenceGauges) -> bool:
    """One reading into the gauges; False (logged, gauges untouched) when Redis did not answer."""
    try:
        info = await client.info("persistence")
    except (RedisError, OSError, TimeoutError) as exc:
        log.debug("cannot read Redis's persistence status: %r", exc)
        return False
    gauges.update(info)
    return True


async def watch_persistence(client: Redis, metrics: ServiceMetrics, every_s: float = REFRESH_S) -> None:
    """Read Redis's persistence status now and every `every_s` until cancelled."""
    gauges = PersistenceGauges(metrics)
    while True:
        await read_persistence(client, gauges)
        await asyncio.sleep(every_s)
