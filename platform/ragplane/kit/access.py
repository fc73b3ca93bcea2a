"""Request accounting: HTTP metrics and one JSON access-log line per request.

The route label is the matched route's *template* (`/api/v1/rag/collections/{name}`),
never the raw path, so a scan of random URLs cannot explode the number of series.
Requests rejected before routing (a missing service token, say) are matched against
the routes here so they still carry their template; anything unmatched is `unmatched`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

log = logging.getLogger("ragplane.access")


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The template of the route that handled (or would handle) this request."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    partial: str | None = None
    for candidate in routes:
        match, _ = candidate.matches(scope)
        template = getattr(candidate, "path", None)
        if not isinstance(template, str):
            continue
        if match is Match.FULL:
            return template
        if match is Match.PARTIAL and partial is None:
            partial = template
    return partial or UNMATCHED


class AccessMiddleware:
    """Counts, times and logs every HTTP request of one service."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self.requests = metrics.counter(catalog.HTTP_REQUESTS)
        self.duration = metrics.histogram(catalog.HTTP_REQUEST_DURATION)
        self.in_progress = metrics.gauge(catalog.HTTP_REQUESTS_IN_PROGRESS).labels()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_progress.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.in_progress.dec()
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "OTHER"  # a label, so bounded
            route = route_template(scope, self.routes)
            self.requests.labels(route=route, method=method, status=str(status)).inc()
            self.duration.labels(route=route, method=method).observe(elapsed)
            client = scope.get("client")
            log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "fields": {
                        "event": "request",
                        "method": method,
                        "route": route,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    }
                },
            )
