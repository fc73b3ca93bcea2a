"""CORS at the edge: what allowed and other origins get, with and without credentials."""

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ragplane.services.gateway.cors import EdgeCORS
from ragplane.settings import GatewaySettings

ALLOWED = "https://app.example"


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True}, headers={"Vary": "Accept-Encoding"})


def client(credentials: bool) -> TestClient:
    settings = GatewaySettings(cors_allowed_origins=(ALLOWED,), cors_allow_credentials=credentials)
    return TestClient(Starlette(routes=[Route("/x", ok)], middleware=[Middleware(EdgeCORS, settings=settings)]))


@pytest.mark.parametrize("credentials", [True, False])
def test_a_disallowed_origin_gets_no_cors_headers(credentials: bool) -> None:
    r = client(credentials).get("/x", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]
    assert r.headers["vary"] == "Accept-Encoding, Origin"


def test_an_allowed_origin_gets_credentials_and_exposed_headers() -> None:
    r = client(True).get("/x", headers={"Origin": ALLOWED})
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "X-Request-ID" in r.headers["access-control-expose-headers"]
    assert "Origin" in r.headers["vary"]


def test_no_origin_no_cors_headers() -> None:
    r = client(True).get("/x")
    assert not [h for h in r.headers if h.startswith("access-control-")]


def test_a_refused_preflight_is_a_problem_without_cors_headers() -> None:
    r = client(True).options("/x", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert (r.status_code, r.headers["content-type"]) == (403, "application/problem+json")
    assert not [h for h in r.headers if h.startswith("access-control-")]
    assert r.headers["vary"] == "Origin"
