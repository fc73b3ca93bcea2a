"""The service factory: one Starlette app with ragplane's middleware, routes and telemetry.

Every service (gateway, query, collections) is built here from a `ServiceSpec`, so all
of them share the same shape: `/api/v1` routes with legacy twins, problem+json errors,
`X-API-Version`, request metrics and JSON access logs, tracing, `/health`,
`/health/ready`, `/metrics`, `/openapi.json` and `/docs`.

Middleware, outermost first: tracing → service name for logs → unhandled errors →
versioning → access log/metrics → service token → Starlette's exception handlers → router.
The error catcher sits outside everything of ours, so even a bug in a middleware becomes a logged 500 problem (carrying
`X-API-Version` itself); access accounting sees the final status of every request,
including those the token check refuses (an exception passing through counts as 500).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ragplane.kit.access import AccessMiddleware
from ragplane.kit.breakers import Breakers
from ragplane.kit.health import Health
from ragplane.kit.internal import Clearable, internal_routes, trace_routes
from ragplane.kit.logs import ServiceLogContext
from ragplane.kit.openapi import docs_routes, openapi_document
from ragplane.kit.problems import EXCEPTION_HANDLERS, UnhandledErrorMiddleware
from ragplane.kit.service_auth import ServiceAuthMiddleware
from ragplane.kit.tracing import instrument_app
from ragplane.kit.versioning import ApiRoute, VersioningMiddleware, api_routes
from ragplane.telemetry.metrics import ServiceMetrics

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


@dataclass
class ServiceSpec:
    """What a service brings; the factory adds everything common."""

    name: str
    title: str
    description: str
    api: Sequence[ApiRoute]
    health: Health
    metrics: ServiceMetrics
    tracer_provider: TracerProvider
    config: Callable[[], Mapping[str, Any]]
    service_secrets: Sequence[str] = ()
    caches: Mapping[str, Clearable] = field(default_factory=dict)
    breakers: Breakers | None = None
    schemas: Mapping[str, Any] = field(default_factory=dict)
    routes: Sequence[BaseRoute] = ()
    openapi: bool = True
    lifespan: Lifespan | None = None
    middleware: Sequence[Middleware] = ()  # the service's own, inside the common ones (they see its answers)


def metrics_route(metrics: ServiceMetrics) -> Route:
    """`/metrics` in Prometheus text format, or OpenMetrics when the scraper asks for it
    (`Accept: application/openmetrics-text`, as Prometheus does): only OpenMetrics shows the
    latency buckets' trace-id exemplars."""

    async def endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), headers={"Content-Type": content_type, "Vary": "Accept"})

    return Route("/metrics", endpoint, methods=["GET"])


def create_app(spec: ServiceSpec) -> Starlette:
    document = (
        openapi_document(title=spec.title, description=spec.description, routes=spec.api, schemas=spec.schemas)
        if spec.openapi
        else None
    )
    routes: list[BaseRoute] = [
        *spec.health.routes(spec.service_secrets),
        metrics_route(spec.metrics),
        *docs_routes(document, title=spec.title),
        # /internal/* only exists where the service token guards it (the public gateway adds its own
        # few, maintenance and traces, each checking the token itself).
        *(internal_routes(spec.config, spec.caches, spec.breakers) if spec.service_secrets else []),
        *(trace_routes(spec.tracer_provider, spec.service_secrets) if spec.service_secrets else []),
        *api_routes(spec.api),
        *spec.routes,
    ]
    middleware = [
        Middleware(ServiceLogContext, service=spec.name),
        Middleware(UnhandledErrorMiddleware),
        Middleware(VersioningMiddleware, metrics=spec.metrics),
        Middleware(AccessMiddleware, metrics=spec.metrics, routes=routes),
    ]
    if spec.service_secrets:
        middleware.append(Middleware(ServiceAuthMiddleware, secrets=spec.service_secrets, metrics=spec.metrics))
    middleware.extend(spec.middleware)
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=spec.lifespan,
    )
    # No trailing-slash redirects: their Location would be this service's own address (see kit.problems).
    app.router.redirect_slashes = False
    app.state.spec = spec
    instrument_app(app, spec.tracer_provider)
    return app
