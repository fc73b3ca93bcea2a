"""Liveness (`/health`) and readiness (`/health/ready`).

`/health` answers 200 while the process can serve at all and describes its
dependencies cheaply (no I/O beyond what the service chooses to report); its `status`
is `degraded` when a dependency reports itself down. `/health/ready` runs every
readiness check concurrently, each under a timeout, and answers 503 when any fails, so
a load balancer stops sending traffic to a replica that cannot answer.

Both are open (orchestrators and Prometheus hold no secret), so what they show depends
on who asks: a caller holding the service token sees everything; anyone else sees the
same verdicts without what says where things live (`WHERE_KEYS`: file paths, Qdrant and
database addresses), and with absolute paths, URLs and IP addresses masked in error texts
(`ERROR_KEYS`; other texts, such as the operator's maintenance message, are shown as they are).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ragplane import __version__
from ragplane.kit.breakers import Breaker, Breakers
from ragplane.kit.problems import ProblemResponse
from ragplane.kit.service_auth import HEADER, check_token

Check = Callable[[], Awaitable[Mapping[str, Any] | None]]
"""A readiness check: returns details when healthy, raises when not."""

Describe = Callable[[], Awaitable[Mapping[str, Any]]]

DOWN_STATES = frozenset({"down", "not_ready", "open"})
RETRY_AFTER_S = 5
WHERE_KEYS = frozenset({"path", "location", "host", "port", "url", "nodes"})  # `nodes`: Qdrant host:port → state
ERROR_KEYS = frozenset({"error", "detail", "last_error", "database"})  # `database`: why the registry fell back
# A URL, an absolute path that starts a word ("'/data/x'", " /var/lib") or an IPv4 address, in free text.
_WHERE_IN_TEXT = re.compile(
    r"[a-z][a-z0-9+.-]*://[^\s'\"]+|(?<![\w.:/~-])/[^\s'\"]+|\b\d{1,3}(?:\.\d{1,3}){3}\b", re.IGNORECASE
)
MASK = "<hidden>"


def public_view(value: Any, key: str | None = None) -> Any:
    """Health data without where things live: `WHERE_KEYS` dropped, paths and URLs in error texts masked."""
    if isinstance(value, Mapping):
        return {k: public_view(v, k) for k, v in value.items() if k not in WHERE_KEYS}
    if isinstance(value, list | tuple):
        return [public_view(v, key) for v in value]
    if isinstance(value, str) and key in ERROR_KEYS:
        return _WHERE_IN_TEXT.sub(MASK, value)
    return value


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


def degraded_modes(dependencies: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`name: status` of every dependency down or serving reduced, looking one level into groups
    (`caches.search_results`) that carry no status of their own."""
    found: dict[str, str] = {}
    for name, dependency in dependencies.items():
        if not isinstance(dependency, Mapping):
            continue
        if "status" in dependency:
            if _impaired(dependency):
                found[prefix + name] = str(dependency["status"])
        elif not prefix:
            found.update(degraded_modes(dependency, f"{name}."))
    return found


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

    async def live(self, request: Request, *, trusted: bool) -> Response:
        dependencies = dict(await self.describe())
        breakers = self._breakers()
        degraded = any(_impaired(d) for d in dependencies.values()) or any(
            b["state"] != "closed" for b in breakers.values()
        )
        body = {
            "status": "degraded" if degraded else "ok",
            "service": self.service,
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - self.started, 3),
            "dependencies": dependencies,
            "breakers": breakers,
        }
        return JSONResponse(body if trusted else public_view(body))

    async def ready(self, request: Request, *, trusted: bool) -> Response:
        """Also names the dependencies that serve in a reduced way (`degraded`): the service is
        ready with them, but whoever watches it (the gateway's /health, the console) should see it."""
        results = await self.run_checks()
        shown = results if trusted else public_view(results)
        failing = [f"{name}: {r.get('error', r['status'])}" for name, r in shown.items() if r["status"] != "up"]
        breakers = self._breakers()
        degraded = degraded_modes(await self.describe())
        if not failing:
            body = {"status": "ready", "service": self.service, "checks": shown, "breakers": breakers}
            return JSONResponse({**body, "degraded": degraded})
        return ProblemResponse(
            503,
            f"{self.service} is not ready: " + "; ".join(failing),
            headers={"Retry-After": str(RETRY_AFTER_S)},
            instance=request.url.path,
            service=self.service,
            checks=shown,
            breakers=breakers,
            degraded=degraded,
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

    def routes(self, secrets: Sequence[str] = ()) -> list[Route]:
        """The two routes; only a caller holding one of `secrets` (the service token) sees where things live."""

        def shown(view: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                trusted = bool(secrets) and check_token(request.headers.get(HEADER), secrets) == "ok"
                return await view(request, trusted=trusted)

            return endpoint

        return [
            Route("/health", shown(self.live), methods=["GET"]),
            Route("/health/ready", shown(self.ready), methods=["GET"]),
        ]


class ReadinessGate:
    """Keeps an app's `/health/ready` at 503 naming `reason` until `open()`: for a service that is
    up but not yet what its users expect (the demo corpus still loading), so whoever waits on
    readiness — the gateway, a load balancer, a test — waits for that too. Other paths go through."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.is_open = False

    def hold(self, app: Starlette) -> None:
        """Before `app` first serves (Starlette builds its middleware then)."""
        app.add_middleware(_HeldReadiness, gate=self)

    def open(self) -> None:
        self.is_open = True


class _HeldReadiness:
    def __init__(self, app: ASGIApp, *, gate: ReadinessGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.gate.is_open and scope["type"] == "http" and scope["path"] == "/health/ready":
            detail = f"not ready: {self.gate.reason}"
            await ProblemResponse(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})(scope, receive, send)
            return
        await self.app(scope, receive, send)
