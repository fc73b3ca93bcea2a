"""API versioning: `/api/v1` routes, deprecated legacy twins, and an empty `/api/v2`.

Each service declares its API once as `ApiRoute`s with paths relative to the version
prefix. `api_routes()` mounts every one under `/api/v1` and, for routes that existed
before versioning, again at the bare path as a `LegacyRoute`. `VersioningMiddleware`
stamps `X-API-Version: v1` on every response, counts requests per version and, when a
legacy route answered, adds `Deprecation: true` plus a `Link` to the successor and logs
one structured warning, so the callers still on old paths can be found and moved.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane.errors import NotFound
from ragplane.kit.naming import register_convertors
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics

V1 = "/api/v1"
V2 = "/api/v2"
CURRENT_VERSION = "v1"
LEGACY_PREFIX = "/rag"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Endpoint = Callable[[Request], Awaitable[Response]]

log = logging.getLogger("ragplane.deprecation")


@dataclass(frozen=True)
class ApiRoute:
    """One operation of a service's public API, declared once for routing and OpenAPI."""

    method: str
    path: str
    endpoint: Endpoint
    summary: str
    operation: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    legacy: bool = True

    @property
    def versioned_path(self) -> str:
        return V1 + self.path


class LegacyRoute(Route):
    """An unversioned route kept for old clients; answers with deprecation headers."""


async def _v2_not_found(request: Request) -> Response:
    raise NotFound(f"API v2 has no routes yet; use {V1}{request.url.path.removeprefix(V2)} instead.")


def api_routes(routes: Iterable[ApiRoute]) -> list[BaseRoute]:
    """Starlette routes for `/api/v1`, the legacy twins, and the `/api/v2` namespace."""
    register_convertors()  # before any path that uses one is compiled
    routes = list(routes)
    out: list[BaseRoute] = [Route(r.versioned_path, r.endpoint, methods=[r.method]) for r in routes]
    out += [LegacyRoute(r.path, r.endpoint, methods=[r.method]) for r in routes if r.legacy]
    out += [
        Route(V2, _v2_not_found, methods=ALL_METHODS),
        Route(V2 + "/{rest:path}", _v2_not_found, methods=ALL_METHODS),
    ]
    return out


def api_version(path: str) -> str | None:
    """Which API version a request path addresses, or None for non-API paths (health, metrics)."""
    if path == V1 or path.startswith(V1 + "/"):
        return "v1"
    if path == V2 or path.startswith(V2 + "/"):
        return "v2"
    if path == LEGACY_PREFIX or path.startswith(LEGACY_PREFIX + "/"):
        return "legacy"
    return None


class VersioningMiddleware:
    """`X-API-Version` on every response, per-version counts, deprecation headers and logs."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.api_requests = metrics.counter(catalog.API_REQUESTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        version = api_version(scope["path"])
        if version is not None:
            self.api_requests.labels(version=version).inc()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-API-Version"] = CURRENT_VERSION
                route = scope.get("route")
                if isinstance(route, LegacyRoute):
                    successor = V1 + scope["path"]
                    headers["Deprecation"] = "true"
                    headers.append("Link", f'<{successor}>; rel="successor-version"')
                    _log_deprecated(scope, route, successor)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _log_deprecated(scope: Scope, route: LegacyRoute, successor: str) -> None:
    headers = Headers(scope=scope)
    client = scope.get("client")
    log.warning(
        "deprecated route %s called; use %s",
        route.path,
        successor,
        extra={
            "fields": {
                "event": "deprecated_route",
                "route": route.path,
                "method": scope["method"],
                "successor": successor,
                "client": headers.get("x-forwarded-for", client[0] if client else None),
                "user_agent": headers.get("user-agent"),
            }
        },
    )
