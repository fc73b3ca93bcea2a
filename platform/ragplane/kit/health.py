"""Liveness (`/health`) and readiness (`/health/ready`).

`/health` answers 200 while the process can serve at all and describes its
dependencies cheaply (no I/O beyond what the service chooses to report); its `status`
is `degraded` when a dependency reports itself down. `/health/ready` runs every
readiness check concurrently, each under a timeout, and answers 503 when any fails, so
a load balancer stops sending traffic to a replica that cannot answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ragplane import __version__
from ragplane.kit.breakers import Breaker, Breakers
from ragplane.kit.errors import ProblemResponse

Check = Callable[[], Awaitable[Mapping[str, Any] | None]]
"""A readiness check: returns details when healthy, raises when not."""

Describe = Callable[[], Awaitable[Mapping[str, Any]]]

DOWN_STATES = frozenset({"down", "not_ready", "open"})
RETRY_AFTER_S = 5


async def _nothing() -> Mapping[str, Any]:
    return {}


def _breaker_check(breaker: Breaker) -> Check:
    async def check() -> Mapping[str, Any]:
        if breaker.blocking():
            raise RuntimeError(f"circuit breaker open, next probe in {breaker.retry_after()} s")
        return {"state": breaker.state}

    return check


def _impaired(dependency: object) -> bool:
    """Down, or serving in a reduced way (a status such as `degraded (json)`)."""
    if not isinstance(dependency, Mapping):
        return False
    status = str(dependency.get("status", ""))
    return status in DOWN_STATES or status.startswith("degraded")


@dataclass
class Health:
    """`breakers` are reported on both routes; an open one among `essential` makes the service not ready."""

    service: str
    checks: Mapping[str, Check] = field(default_factory=dict)
    describe: Describe = _nothing
    breakers: Breakers | None = None
    essential: tuple[str, ...] = ()
    timeout_s: float = 2.0
    started: float = field(default_factory=time.monotonic)

    def _breakers(self) -> dict[str, dict[str, Any]]:
        return self.breakers.describe() if self.breakers is not None else {}

    async def live(self, request: Request) -> Response:
        dependencies = dict(await self.describe())
        breakers = self._breakers()
        degraded = any(_impaired(d) for d in dependencies.values()) or any(
            b["state"] != "closed" for b in breakers.values()
        )
        return JSONResponse(
            {
                "status": "degraded" if degraded else "ok",
                "service": self.service,
                "version": __version__,
                "uptime_seconds": round(time.monotonic() - self.started, 3),
                "dependencies": dependencies,
                "breakers": breakers,
            }
        )

    async def ready(self, request: Request) -> Response:
        results = await self.run_checks()
        failing = [f"{name}: {r.get('error', r['status'])}" for name, r in results.items() if r["status"] != "up"]
        breakers = self._breakers()
        if not failing:
            return JSONResponse({"status": "ready", "service": self.service, "checks": results, "breakers": breakers})
        return ProblemResponse(
            503,
            f"{self.service} is not ready: " + "; ".join(failing),
            headers={"Retry-After": str(RETRY_AFTER_S)},
            instance=request.url.path,
            service=self.service,
            checks=results,
            breakers=breakers,
        )

    async def run_checks(self) -> dict[str, dict[str, Any]]:
        checks = dict(self.checks)
        if self.breakers is not None:
            for name in self.essential:
                checks[f"breaker:{name}"] = _breaker_check(self.breakers[name])
        names = list(checks)
        outcomes = await asyncio.gather(*(self._run(checks[n]) for n in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run(self, check: Check) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            detail = await asyncio.wait_for(check(), self.timeout_s)
        except TimeoutError:
            return {"status": "down", "error": f"no answer within {self.timeout_s:g}s"}
        except Exception as exc:
            return {"status": "down", "error": str(exc) or type(exc).__name__}
        return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2), **(detail or {})}

    def routes(self) -> list[Route]:
        return [Route("/health", self.live, methods=["GET"]), Route("/health/ready", self.ready, methods=["GET"])]
