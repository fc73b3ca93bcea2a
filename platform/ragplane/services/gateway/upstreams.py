"""What the gateway knows about its upstreams: their readiness and their API documents."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from ragplane.services.gateway.replicas import Replica, UpstreamPool

HEALTH_TIMEOUT_S = 2.0

log = logging.getLogger("ragplane.gateway")
OPENAPI_TTL_S = 60.0


class Upstreams:
    def __init__(self, upstreams: Mapping[str, UpstreamPool]) -> None:
        self.upstreams = dict(upstreams)
        self._openapi: tuple[float, dict[str, Any]] | None = None

    async def readiness(self) -> dict[str, dict[str, Any]]:
        """Each upstream's `/health/ready` verdict and breakers, asked concurrently with a short timeout."""
        names = list(self.upstreams)
        results = await asyncio.gather(*(self.ready_one(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def ready_one(self, name: str) -> dict[str, Any]:
        """An upstream is up while any replica is ready; with several, each replica's verdict is listed."""
        pool = self.upstreams[name]
        results = await asyncio.gather(*(self._ready_replica(r) for r in pool.replicas))
        best = next((r for r in results if r["status"] == "up"), results[0])
        if len(results) == 1:
            return best
        return {**best, "replicas": {f"{i + 1}": r["status"] for i, r in enumerate(results)}}

    async def _ready_replica(self, replica: Replica) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            status, content = await replica.get("/health/ready", HEALTH_TIMEOUT_S)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # /health is public: say what kind of failure, not where the upstream lives.
            log.warning("upstream replica %s at %s is down: %r", replica.name, replica.base_url, exc)
            return {"status": "down", "error": type(exc).__name__}
        latency = round((time.perf_counter() - started) * 1000, 2)
        verdict = "up" if status == 200 else "not_ready"
        result: dict[str, Any] = {"status": verdict, "latency_ms": latency}
        try:
            body = json.loads(content)
        except ValueError:
            body = {"detail": f"HTTP {status}"}
        if verdict != "up":
            result["detail"] = body.get("detail")
        # What the replica's own checks found, by dependency (its breakers are listed apart).
        checks = body.get("checks", {})
        result["checks"] = {n: c.get("status") for n, c in checks.items() if not n.startswith("breaker:")}
        result["breakers"] = body.get("breakers", {})
        result["degraded"] = body.get("degraded", {})
        return result

    async def openapi(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The upstreams' API documents merged into `base`; cached for a minute."""
        if self._openapi is not None and time.monotonic() - self._openapi[0] < OPENAPI_TTL_S:
            return self._openapi[1]
        document = {**base, "paths": dict(base.get("paths", {})), "components": {"schemas": {}}}
        missing: list[str] = []
        for name, pool in self.upstreams.items():
            part = await self._document(pool)
            if part is None:
                missing.append(name)
                continue
            document["paths"].update(part.get("paths", {}))
            document["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
        document["paths"] = dict(sorted(document["paths"].items()))
        if missing:
            document["info"] = {**document["info"], "x-unavailable-upstreams": missing}
        else:
            self._openapi = (time.monotonic(), document)
        return document

    @staticmethod
    async def _document(pool: UpstreamPool) -> dict[str, Any] | None:
        """The first answering replica's API document."""
        for replica in pool.replicas:
            try:
                status, content = await replica.get("/openapi.json", HEALTH_TIMEOUT_S)
                part: dict[str, Any] = json.loads(content)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            if status != 200:
                continue
            return part
        return None
