"""Inter-service authentication over real HTTP."""

import pytest

from tests.running import RunningStack

PROTECTED = [
    ("query", "GET", "/api/v1/rag/search?query=x"),
    ("query", "POST", "/api/v1/rag/query"),
    ("query", "GET", "/rag/search?query=x"),
    ("collections", "GET", "/api/v1/rag/collections"),
    ("collections", "POST", "/api/v1/rag/collections/docs/documents"),
    ("collections", "GET", "/api/v1/rag/jobs/x"),
    ("query", "POST", "/internal/cache/clear"),
    ("collections", "GET", "/internal/config"),
    ("query", "GET", "/openapi.json"),
]


@pytest.mark.parametrize(("service", "method", "path"), PROTECTED)
def test_missing_token_is_forbidden(stack: RunningStack, service, method, path) -> None:
    with stack.client(service) as client:
        r = client.request(method, path)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "X-Service-Token header is required" in r.json()["detail"]


@pytest.mark.parametrize(("service", "method", "path"), PROTECTED[:4])
def test_invalid_token_is_forbidden(stack: RunningStack, service, method, path) -> None:
    with stack.client(service, token="not-the-secret-" * 3) as client:
        r = client.request(method, path)
    assert r.status_code == 403 and r.json()["detail"] == "X-Service-Token is not valid."


def test_current_and_previous_secrets_are_accepted(stack: RunningStack) -> None:
    for token in stack.settings.service_secrets:  # the current secret and the previous one
        with stack.client("collections", token=token) as client:
            assert client.get("/api/v1/rag/collections").status_code == 200


@pytest.mark.parametrize("service", ["query", "collections"])
@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics"])
def test_health_and_metrics_need_no_token(stack: RunningStack, service, path) -> None:
    with stack.client(service) as client:
        assert client.get(path).status_code == 200


def test_users_need_no_token_through_the_gateway(gateway) -> None:
    assert gateway.get("/api/v1/rag/collections").status_code == 200


def test_a_forged_token_from_a_user_is_replaced_by_the_gateway(gateway) -> None:
    r = gateway.get("/api/v1/rag/collections", headers={"X-Service-Token": "forged"})
    assert r.status_code == 200


def test_gateway_has_no_internal_routes(gateway) -> None:
    assert gateway.get("/internal/config").status_code == 404


def test_internal_config_redacts_secrets(stack: RunningStack, collections) -> None:
    settings = collections.get("/internal/config").json()["settings"]
    assert settings["server"]["inter_service_secret"] == "***"
    assert settings["server"]["inter_service_secret_previous"] == "***"
    assert stack.settings.service_token not in collections.get("/internal/config").text
    assert settings["collections"]["default_collection"] == "docs"


def test_internal_cache_clear(query, demo_corpus) -> None:
    query.get("/api/v1/rag/search", params={"query": "fill the cache"})
    cleared = query.post("/internal/cache/clear").json()["cleared"]
    assert cleared["query_embeddings"] >= 1
    assert query.post("/internal/cache/clear").json()["cleared"]["query_embeddings"] == 0
    assert query.get("/internal/cache/clear").status_code == 405


def test_auth_results_are_counted(stack: RunningStack) -> None:
    registry = stack.stack.apps["query"].state.spec.metrics.registry

    def count(result: str) -> float:
        return registry.get_sample_value("ragplane_service_auth_total", {"service": "query", "result": result}) or 0

    before = {r: count(r) for r in ("ok", "missing", "invalid")}
    with stack.client("query") as anonymous:
        anonymous.get("/api/v1/rag/search")
    with stack.client("query", token="wrong" * 10) as wrong:
        wrong.get("/api/v1/rag/search")
    with stack.client("query", token=True) as right:
        right.get("/api/v1/rag/search", params={"query": "x", "collection": "nope"})
    assert {r: count(r) - before[r] for r in before} == {"ok": 1, "missing": 1, "invalid": 1}


@pytest.mark.parametrize(
    "path",
    [
        "/rag/search/../../internal/cache/clear",
        "/api/v1/rag/collections/../../../../internal/cache/clear",
        "/api/v1/rag/search/%2e%2e/%2e%2e/%2e%2e/internal/cache/clear",
        "/rag/jobs/..%2f..%2finternal/cache/clear",
    ],
)
def test_dot_segments_cannot_reach_internal_routes_through_the_gateway(stack: RunningStack, path: str) -> None:
    """http.client sends the path as written (httpx and curl would normalise it first)."""
    import http.client
    from urllib.parse import urlsplit

    gateway = urlsplit(stack.urls["gateway"])
    connection = http.client.HTTPConnection(gateway.hostname, gateway.port, timeout=10)
    try:
        connection.request("POST", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404, body
    assert b"cleared" not in body
