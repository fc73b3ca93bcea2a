"""The gateway's composition: web page, proxy routes, upstream health and merged API docs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ragplane import __version__
from ragplane.adapters.redis_persistence import watch_persistence
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.health import Health
from ragplane.kit.internal import trace_routes
from ragplane.kit.versioning import ALL_METHODS
from ragplane.services.gateway.admin import maintenance_routes
from ragplane.services.gateway.auth import Authenticator
from ragplane.services.gateway.cors import EdgeCORS
from ragplane.services.gateway.edge import EdgeMiddleware, EdgePolicy
from ragplane.services.gateway.maintenance import Maintenance, MaintenanceState
from ragplane.services.gateway.proxy import Proxy
from ragplane.services.gateway.ratelimit import Limits, build_rate_limiter
from ragplane.services.gateway.replicas import UpstreamPool
from ragplane.services.gateway.routing import public_prefixes
from ragplane.services.gateway.upstreams import Upstreams
from ragplane.services.gateway.web import web_routes
from ragplane.settings import Settings
from ragplane.telemetry.metrics import ServiceMetrics

NAME = "gateway"


def proxy_routes(proxy: Proxy) -> list[BaseRoute]:
    """`/api/v1/<prefix>` and the legacy `/<prefix>`, each exact and with sub-paths, to their upstream."""
    routes: list[BaseRoute] = []
    for path, upstream in public_prefixes():

        async def endpoint(request: Request, upstream: str = upstream) -> Response:
            return await proxy.forward(request, upstream)

        routes.append(Route(path, endpoint, methods=ALL_METHODS))
        routes.append(Route(path + "/{rest:path}", endpoint, methods=ALL_METHODS))
    return routes


def create_gateway_app(
    settings: Settings,
    *,
    upstreams: Mapping[str, str],
    tracer_provider: TracerProvider,
    metrics: ServiceMetrics | None = None,
    redis: Redis | None = None,
) -> Starlette:
    metrics = metrics or ServiceMetrics(NAME)
    edge = settings.gateway
    maintenance = Maintenance(
        metrics=metrics,
        initial=MaintenanceState(
            edge.maintenance,
            edge.maintenance_message,
            edge.maintenance_retry_after_s,
            time.time() if edge.maintenance else None,
        ),
        redis=redis,
        key=f"{settings.cache.redis_key_prefix}:maintenance",
    )
    limiter = build_rate_limiter(edge, redis=redis, prefix=settings.cache.redis_key_prefix, metrics=metrics)
    policy = EdgePolicy(
        maintenance=maintenance,
        authenticator=Authenticator(edge, metrics),
        limits=Limits(limiter, edge.plans, metrics, default_plan=edge.default_plan) if limiter else None,
        max_body_bytes=edge.max_body_bytes,
        max_header_bytes=edge.max_header_bytes,
    )
    middleware = [Middleware(EdgeCORS, settings=edge)] if edge.cors_allowed_origins else []
    middleware.append(Middleware(EdgeMiddleware, policy=policy))
    clients = {
        name: UpstreamPool(
            name,
            settings.gateway.replicas(name) or (url,),
            token=lambda: settings.service_token or "",
            timeout_s=settings.server.upstream_timeout_s,
            metrics=metrics,
            breakers_enabled=settings.resilience.circuit_breaker_enabled,
            tracer=tracer_provider.get_tracer("ragplane.gateway"),
        )
        for name, url in upstreams.items()
    }
    proxy = Proxy(upstreams=clients, metrics=metrics)
    known = Upstreams(clients)
    base_document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "ragplane API",
            "version": __version__,
            "description": "Search and Q&A over document collections. Every route also answers at its legacy, "
            "unversioned path (deprecated: see the Deprecation and Link headers).",
        },
        "paths": {},
    }

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(await known.openapi(base_document))

    async def describe() -> dict[str, Any]:
        limits = {"rate_limit": limiter.describe()} if limiter else {}
        return {**await known.readiness(), "maintenance": (await maintenance.current()).describe(), **limits}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await maintenance.start()
        # Redis's persistence status as gauges, for the alerts on a failed save or AOF write.
        persistence = asyncio.create_task(watch_persistence(redis, metrics)) if redis is not None else None
        try:
            yield
        finally:
            if persistence is not None:
                persistence.cancel()
            for upstream in clients.values():
                await upstream.close()
            if limiter is not None:
                await limiter.close()

    spec = ServiceSpec(
        name=NAME,
        title="ragplane API",
        description="The public door.",
        api=(),
        health=Health(NAME, checks={n: _upstream_check(known, n) for n in upstreams}, describe=describe),
        metrics=metrics,
        tracer_provider=tracer_provider,
        config=settings.redacted,
        openapi=False,
        routes=[
            *web_routes(),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            *maintenance_routes(
                maintenance, secrets=settings.service_secrets, default_message=edge.maintenance_message
            ),
            *trace_routes(tracer_provider, settings.service_secrets),  # its own spans, for `ragplane trace`
            *proxy_routes(proxy),
        ],
        lifespan=lifespan,
        middleware=middleware,
    )
    return create_app(spec)


def _upstream_check(upstreams: Upstreams, name: str) -> Any:
    async def check() -> dict[str, Any]:
        result = await upstreams.ready_one(name)
        if result["status"] != "up":
            raise RuntimeError(f"{result['status']}: {result.get('detail') or result.get('error')}")
        return {"latency_ms": result["latency_ms"]}

    return check
