"""The edge's order and plumbing, around a stand-in upstream route (auth and limits have their own tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from ragplane.errors import Unauthorized
from ragplane.kit.problems import EXCEPTION_HANDLERS, UnhandledErrorMiddleware
from ragplane.services.gateway.edge import EdgeMiddleware, EdgePolicy
from ragplane.services.gateway.maintenance import Maintenance, MaintenanceState
from ragplane.telemetry.metrics import ServiceMetrics


@dataclass(frozen=True)
class Caller:
    id: str
    plan: str


class Tokens:
    """Anyone but the holder of `Bearer bad`."""

    def authenticate(self, authorization: Sequence[str], client_ip: str) -> Caller:
        if "Bearer bad" in authorization:
            raise Unauthorized("bad token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Caller(f"ip:{client_ip}", "free")


@dataclass(frozen=True)
class Allowed:
    remaining: int

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Remaining": str(self.remaining)}


class Counting:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def check(self, consumer_id: str, plan: str) -> Allowed:
        self.seen.append((consumer_id, plan))
        return Allowed(100 - len(self.seen))


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"request_id": request.headers.get("x-request-id"), "bytes": len(body)})


def client(
    limit_bytes: int = 1000, state: MaintenanceState | None = None, header_bytes: int = 4096
) -> tuple[TestClient, Counting, Maintenance]:
    limits = Counting()
    maintenance = Maintenance(metrics=ServiceMetrics("gateway"), initial=state or MaintenanceState())
    policy = EdgePolicy(
        maintenance=maintenance,
        authenticator=Tokens(),
        limits=limits,
        max_body_bytes=limit_bytes,
        max_header_bytes=header_bytes,
    )
    routes = [Route(p, echo, methods=["GET", "POST"]) for p in ("/api/v1/rag/search", "/health")]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(EdgeMiddleware, policy=policy)],
        exception_handlers=dict(EXCEPTION_HANDLERS),  # as in every ragplane app: a route's 413 becomes a problem
    )
    return TestClient(app), limits, maintenance


def test_a_request_id_is_kept_or_made_and_travels_both_ways() -> None:
    http, _, _ = client()
    given = http.get("/api/v1/rag/search", headers={"X-Request-ID": "abc-123"})
    made = http.get("/health")
    odd = http.get("/health", headers={"X-Request-ID": "no spaces or <tags> please"})

    assert given.headers["x-request-id"] == "abc-123" and given.json()["request_id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32 and made.json()["request_id"] == made.headers["x-request-id"]
    assert odd.headers["x-request-id"] != "no spaces or <tags> please"


def test_api_routes_are_authenticated_and_limited_and_carry_the_limit_headers() -> None:
    http, limits, _ = client()
    ok = http.get("/api/v1/rag/search")
    refused = http.get("/api/v1/rag/search", headers={"Authorization": "Bearer bad"})

    assert ok.headers["ratelimit-remaining"] == "99" and limits.seen == [("ip:testclient", "free")]
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert refused.headers["x-request-id"]


def test_health_skips_every_check() -> None:
    http, limits, _ = client(state=MaintenanceState(True, "upgrading", 60))
    assert http.get("/health", headers={"Authorization": "Bearer bad"}).status_code == 200
    assert limits.seen == []


def test_maintenance_answers_api_routes_with_503_and_the_message() -> None:
    http, _, _ = client(state=MaintenanceState(True, "upgrading the index", 60))
    r = http.get("/api/v1/rag/search")
    assert r.status_code == 503 and r.headers["retry-after"] == "60"
    assert r.json()["detail"] == "upgrading the index" and r.json()["maintenance"] is True


def test_bodies_over_the_limit_are_refused_with_or_without_a_length() -> None:
    http, _, _ = client(limit_bytes=10)
    declared = http.post("/api/v1/rag/search", content=b"x" * 11)
    chunked = http.post("/api/v1/rag/search", content=iter([b"x" * 6, b"x" * 6]))
    fits = http.post("/api/v1/rag/search", content=b"x" * 10)

    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"
    assert chunked.status_code == 413
    assert fits.json()["bytes"] == 10


def test_an_unhandled_error_still_carries_the_request_id() -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    maintenance = Maintenance(metrics=ServiceMetrics("gateway"), initial=MaintenanceState())
    policy = EdgePolicy(
        maintenance=maintenance, authenticator=None, limits=None, max_body_bytes=10, max_header_bytes=4096
    )
    app = Starlette(
        routes=[Route("/api/v1/rag/search", boom)],
        middleware=[Middleware(UnhandledErrorMiddleware), Middleware(EdgeMiddleware, policy=policy)],
    )
    r = TestClient(app, raise_server_exceptions=False).get("/api/v1/rag/search", headers={"X-Request-ID": "r-1"})

    assert r.status_code == 500 and r.headers["x-request-id"] == "r-1"


def test_headers_over_the_limit_are_refused_everywhere_before_anything_else() -> None:
    http, limits, _ = client(header_bytes=2048)
    huge = {"X-Padding": "x" * 2048}
    for path in ("/api/v1/rag/search", "/health"):
        r = http.get(path, headers={**huge, "X-Request-ID": "r-2"})
        assert (r.status_code, r.headers["content-type"]) == (431, "application/problem+json")
        assert r.json()["detail"].endswith("this gateway accepts at most 2048.")
        assert r.headers["x-request-id"] == "r-2" and "request_id" not in r.json()
    assert limits.seen == []
    assert http.get("/api/v1/rag/search", headers={"X-Padding": "x" * 1800}).status_code == 200
