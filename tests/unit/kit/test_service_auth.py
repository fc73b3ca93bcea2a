import pytest

from ragplane.kit.service_auth import ServiceAuthMiddleware, check_token
from ragplane.telemetry.metrics import ServiceMetrics
from tests.unit.kit.conftest import PREVIOUS, SECRET


@pytest.mark.parametrize(
    ("presented", "result"),
    [
        (SECRET, "ok"),
        (PREVIOUS, "ok"),
        (None, "missing"),
        ("", "missing"),
        ("x" * 40, "invalid"),
        (SECRET[:-1], "invalid"),
        (SECRET + "x", "invalid"),
    ],
)
def test_check_token(presented: str | None, result: str) -> None:
    assert check_token(presented, (SECRET, PREVIOUS)) == result


def test_middleware_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="INTER_SERVICE_SECRET"):
        ServiceAuthMiddleware(lambda *a: None, secrets=(), metrics=ServiceMetrics("x"))  # type: ignore[arg-type]


def test_missing_token_is_a_403_problem(make_kit) -> None:
    kit = make_kit(secrets=[SECRET])
    r = kit.client.get("/api/v1/rag/things/a")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "X-Service-Token header is required" in r.json()["detail"]
    assert r.headers["x-api-version"] == "v1"
    assert kit.sample("ragplane_service_auth_total", result="missing") == 1
    # refused requests still carry their route template in metrics
    assert (
        kit.sample("ragplane_http_requests_total", route="/api/v1/rag/things/{name}", method="GET", status="403") == 1
    )


def test_invalid_token_is_a_403_problem(make_kit) -> None:
    kit = make_kit(secrets=[SECRET])
    r = kit.client.get("/api/v1/rag/things/a", headers={"X-Service-Token": "wrong"})
    assert r.status_code == 403
    assert r.json()["detail"] == "X-Service-Token is not valid."
    assert SECRET not in r.text
    assert kit.sample("ragplane_service_auth_total", result="invalid") == 1


def test_valid_and_rotated_tokens_pass(make_kit) -> None:
    kit = make_kit(secrets=[SECRET, PREVIOUS])
    for token in (SECRET, PREVIOUS):
        assert kit.client.get("/api/v1/rag/things/a", headers={"X-Service-Token": token}).status_code == 200
    assert kit.sample("ragplane_service_auth_total", result="ok") == 2


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics"])
def test_health_and_metrics_stay_open(make_kit, path: str) -> None:
    assert make_kit(secrets=[SECRET]).client.get(path).status_code == 200


def test_everything_else_needs_the_token(make_kit) -> None:
    client = make_kit(secrets=[SECRET]).client
    for path in ("/openapi.json", "/docs", "/internal/config", "/unknown", "/api/v2/x"):
        assert client.get(path).status_code == 403, path
