"""A tiny service built with the kit, for testing the kit's behaviour in isolation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from ragplane.adapters.cache import Cache, MemoryBackend
from ragplane.errors import Conflict
from ragplane.kit.app import ServiceSpec, create_app
from ragplane.kit.health import Check, Health
from ragplane.kit.tracing import create_tracer_provider
from ragplane.kit.versioning import ApiRoute
from ragplane.telemetry.metrics import ServiceMetrics

SECRET = "k" * 40
PREVIOUS = "p" * 40


async def echo(request: Request) -> Response:
    return JSONResponse({"name": request.path_params.get("name"), "q": request.query_params.get("q")})


async def conflict(request: Request) -> Response:
    raise Conflict("it exists")


async def boom(request: Request) -> Response:
    raise RuntimeError("secret internals /etc/passwd")


ROUTES = [
    ApiRoute("GET", "/rag/things/{name}", echo, "Echo a thing"),
    ApiRoute("POST", "/rag/things", conflict, "Always conflicts"),
    ApiRoute("GET", "/rag/boom", boom, "Always fails", legacy=False),
]


class Kit:
    def __init__(self, secrets: Sequence[str], checks: dict[str, Check]) -> None:
        self.metrics = ServiceMetrics("demo")
        self.spans = InMemorySpanExporter()
        self.cache: Cache[int] = Cache("things", MemoryBackend(4), self.metrics)
        spec = ServiceSpec(
            name="demo",
            title="demo",
            description="a demo service",
            api=ROUTES,
            health=Health("demo", checks=checks, timeout_s=0.2),
            metrics=self.metrics,
            tracer_provider=create_tracer_provider("demo", processors=(SimpleSpanProcessor(self.spans),)),
            config=lambda: {"secret": "***", "port": 1},
            service_secrets=secrets,
            caches={"things": self.cache},
        )
        self.app = create_app(spec)
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, {"service": "demo", **labels})


@pytest.fixture
def make_kit() -> Callable[..., Kit]:
    def make(secrets: Sequence[str] = (), checks: dict[str, Check] | None = None, **_: Any) -> Kit:
        return Kit(secrets, checks or {})

    return make
