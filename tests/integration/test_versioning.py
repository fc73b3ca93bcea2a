"""Versioning over real HTTP: X-API-Version everywhere, legacy routes, the empty v2 namespace."""

import pytest

from tests.running import RunningStack


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
        ("GET", "/api/v1/rag/search?query=x&collection=nope"),
        ("POST", "/api/v1/rag/collections"),
    ],
)
def test_every_gateway_response_carries_the_version(gateway, method, path) -> None:
    assert gateway.request(method, path).headers["x-api-version"] == "v1"


@pytest.mark.parametrize("service", ["query", "collections"])
def test_every_backend_response_carries_the_version(stack: RunningStack, service) -> None:
    with stack.client(service) as anonymous:
        assert anonymous.get("/api/v1/rag/collections").headers["x-api-version"] == "v1"  # a 403
        assert anonymous.get("/health").headers["x-api-version"] == "v1"


@pytest.mark.parametrize(
    ("method", "path", "successor", "body"),
    [
        ("GET", "/rag/search?query=breaker", "/api/v1/rag/search", None),
        ("POST", "/rag/query", "/api/v1/rag/query", {"query": "What is ragplane?"}),
        ("GET", "/rag/collections", "/api/v1/rag/collections", None),
        ("GET", "/rag/collections/docs/stats", "/api/v1/rag/collections/docs/stats", None),
    ],
)
def test_legacy_routes_work_with_deprecation_headers(gateway, demo_corpus, method, path, successor, body) -> None:
    r = gateway.request(method, path, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["deprecation"] == "true"
    assert r.headers["link"] == f'<{successor}>; rel="successor-version"'


def test_legacy_calls_log_one_warning_each(gateway, json_logs, demo_corpus) -> None:
    gateway.get("/rag/search", params={"query": "x"}, headers={"User-Agent": "legacy-tool/0.9"})
    [warning] = json_logs.records(event="deprecated_route")
    assert warning["service"] == "query" and warning["route"] == "/rag/search"
    assert warning["successor"] == "/api/v1/rag/search"
    assert warning["client"].startswith("127.0.0.1") and warning["user_agent"] == "legacy-tool/0.9"


@pytest.mark.parametrize("path", ["/api/v2/anything", "/api/v2/rag/search", "/api/v2"])
def test_v2_is_an_empty_namespace_through_the_gateway(gateway, path) -> None:
    r = gateway.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "v2 has no routes yet" in r.json()["detail"]


def test_v2_on_a_backend_too(query) -> None:
    r = query.post("/api/v2/rag/query")
    assert r.status_code == 404 and "v2" in r.json()["detail"]


def test_api_versions_are_counted(stack, gateway) -> None:
    metrics = stack.stack.apps["gateway"].state.spec.metrics.registry
    before = metrics.get_sample_value("ragplane_api_requests_total", {"service": "gateway", "version": "v2"})
    gateway.get("/api/v2/x")
    assert (
        metrics.get_sample_value("ragplane_api_requests_total", {"service": "gateway", "version": "v2"}) == before + 1
    )
