"""What the gateway knows about its upstreams: their readiness and their API documents."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ragplane.services.gateway.proxy import Upstream

HEALTH_TIMEOUT_S = 2.0

log = logging.getLogger("ragplane.gateway")
OPENAPI_TTL_S = 60.0


class Upstreams:
    def __init__(self, upstreams: Mapping[str, Upstream]) -> None:
        self.upstreams = dict(upstreams)
        self._openapi: tuple[float, dict[str, Any]] | None = None

    async def readiness(self) -> dict[str, dict[str, Any]]:
        """Each upstream's `/health/ready` verdict and breakers, asked concurrently with a short timeout."""
        names = list(self.upstreams)
        results = await asyncio.gather(*(self.ready_one(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def ready_one(self, name: str) -> dict[str, Any]:
        upstream = self.upstreams[name]
        started = time.perf_counter()
        try:
            response = await upstream.client.get("/health/ready", timeout=HEALTH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            # /health is public: say what kind of failure, not where the upstream lives.
            log.warning("upstream %s at %s is down: %r", name, upstream.base_url, exc)
            return {"status": "down", "error": type(exc).__name__}
        latency = round((time.perf_counter() - started) * 1000, 2)
        status = "up" if response.status_code == 200 else "not_ready"
        result: dict[str, Any] = {"status": status, "latency_ms": latency}
        try:
            body = response.json()
        except ValueError:
            body = {"detail": f"HTTP {response.status_code}"}
        if status != "up":
            result["detail"] = body.get("detail")
        result["breakers"] = body.get("breakers", {})
        return result

    async def openapi(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The upstreams' API documents merged into `base`; cached for a minute."""
        if self._openapi is not None and time.monotonic() - self._openapi[0] < OPENAPI_TTL_S:
            return self._openapi[1]
        document = {**base, "paths": dict(base.get("paths", {})), "components": {"schemas": {}}}
        missing: list[str] = []
        for name, upstream in self.upstreams.items():
            try:
                response = await upstream.client.get("/openapi.json", timeout=HEALTH_TIMEOUT_S)
                response.raise_for_status()
                part = response.json()
            except (httpx.HTTPError, ValueError):
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
