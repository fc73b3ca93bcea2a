"""The gateway's composition: web page, proxy routes, upstream health and merged API docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ragplane import __version__
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.health import Health
from ragplane.kit.tracing import instrument_client
from ragplane.kit.versioning import ALL_METHODS
from ragplane.services.gateway.proxy import Proxy, Upstream
from ragplane.services.gateway.routing import public_prefixes
from ragplane.services.gateway.upstreams import Upstreams
from ragplane.settings import Settings
from ragplane.telemetry.metrics import ServiceMetrics

NAME = "gateway"


def web_dir() -> Path:
    return Path(str(resources.files("ragplane") / "web"))


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
) -> Starlette:
    metrics = metrics or ServiceMetrics(NAME)
    clients = {
        name: Upstream(
            name, url, token=lambda: settings.inter_service_secret or "", timeout_s=settings.upstream_timeout_s
        )
        for name, url in upstreams.items()
    }
    for upstream in clients.values():
        instrument_client(upstream.client, tracer_provider)
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

    async def index(request: Request) -> Response:
        return FileResponse(web_dir() / "index.html")

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(await known.openapi(base_document))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for upstream in clients.values():
                await upstream.close()

    spec = ServiceSpec(
        name=NAME,
        title="ragplane API",
        description="The public door.",
        api=(),
        health=Health(NAME, checks={n: _upstream_check(known, n) for n in upstreams}, describe=known.readiness),
        metrics=metrics,
        tracer_provider=tracer_provider,
        config=settings.redacted,
        openapi=False,
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=web_dir()), name="static"),
            *proxy_routes(proxy),
        ],
        lifespan=lifespan,
    )
    return create_app(spec)


def _upstream_check(upstreams: Upstreams, name: str) -> Any:
    async def check() -> dict[str, Any]:
        result = await upstreams.ready_one(name)
        if result["status"] != "up":
            raise RuntimeError(f"{result['status']}: {result.get('detail') or result.get('error')}")
        return {"latency_ms": result["latency_ms"]}

    return check
