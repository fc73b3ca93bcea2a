"""Liveness and readiness of each service and the gateway's view of its upstreams."""

import pytest

from ragplane import __version__
from tests.running import RunningStack


@pytest.mark.parametrize("service", ["gateway", "query", "collections"])
def test_every_service_is_live_and_ready(stack: RunningStack, service: str) -> None:
    with stack.client(service) as client:
        live = client.get("/health")
        assert live.status_code == 200
        body = live.json()
        assert (body["status"], body["service"], body["version"]) == ("ok", service, __version__)
        assert body["uptime_seconds"] > 0
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_backends_report_their_dependencies(stack: RunningStack) -> None:
    with stack.client("query") as client:
        deps = client.get("/health").json()["dependencies"]
        assert deps["qdrant"]["mode"] == "local"
        assert deps["embedder"] == {"name": "local:all-MiniLM-L6-v2", "status": "up"}
        checks = client.get("/health/ready").json()["checks"]
        assert set(checks) == {"qdrant", "embedder", "breaker:embedder", "breaker:qdrant"}
        assert checks["embedder"]["dimension"] == 384
    with stack.client("collections") as client:
        checks = client.get("/health/ready").json()["checks"]
        assert checks["registry"]["backend"] == "json" and checks["registry"]["status"] == "up"


def test_gateway_aggregates_upstream_readiness(gateway) -> None:
    deps = gateway.get("/health").json()["dependencies"]
    assert set(deps) == {"query", "collections", "maintenance", "rate_limit"}
    assert deps["rate_limit"]["backend"] == "memory" and deps["rate_limit"]["status"] == "up"
    assert deps["query"]["status"] == deps["collections"]["status"] == "up"
    assert deps["maintenance"] == {"status": "off"}


def test_gateway_is_degraded_and_not_ready_without_upstreams(make_settings) -> None:
    settings = make_settings(QUERY_URL="http://127.0.0.1:9", COLLECTIONS_URL="http://127.0.0.1:9")
    lonely = RunningStack(settings, services=("gateway",)).start(wait_ready=False)
    try:
        with lonely.client() as client:
            live = client.get("/health")
            assert live.status_code == 200 and live.json()["status"] == "degraded"
            assert live.json()["dependencies"]["query"]["status"] == "down"
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.headers["content-type"] == "application/problem+json"
            assert "query" in ready.json()["detail"]
            # requests to a dead upstream are a 502 problem, not a hang or a stack trace
            r = client.get("/api/v1/rag/search", params={"query": "x"})
            assert r.status_code == 502
            assert r.json()["detail"].startswith("The query service is unreachable")
            assert r.headers["x-api-version"] == "v1"
    finally:
        lonely.stop()
