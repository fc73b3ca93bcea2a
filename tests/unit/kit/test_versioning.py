import pytest

from ragplane.kit.versioning import api_version


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/api/v1/rag/search", "v1"),
        ("/api/v1", "v1"),
        ("/api/v2/anything", "v2"),
        ("/api/v2", "v2"),
        ("/rag/search", "legacy"),
        ("/health", None),
        ("/metrics", None),
        ("/api/v10/x", None),
        ("/ragged", None),
    ],
)
def test_api_version_of_a_path(path: str, version: str | None) -> None:
    assert api_version(path) == version


def test_legacy_route_answers_with_deprecation_headers_and_a_log(make_kit, json_logs) -> None:
    kit = make_kit()
    r = kit.client.get("/rag/things/a?q=2", headers={"User-Agent": "old-client/1", "X-Forwarded-For": "10.0.0.9"})
    assert r.status_code == 200
    assert r.json() == {"name": "a", "q": "2"}
    assert r.headers["deprecation"] == "true"
    assert r.headers["link"] == '</api/v1/rag/things/a>; rel="successor-version"'
    assert r.headers["x-api-version"] == "v1"
    [warning] = json_logs.records(event="deprecated_route")
    assert warning["level"] == "warning"
    assert warning["route"] == "/rag/things/{name}"
    assert warning["successor"] == "/api/v1/rag/things/a"
    assert warning["client"] == "10.0.0.9" and warning["user_agent"] == "old-client/1"
    assert kit.sample("ragplane_api_requests_total", version="legacy") == 1


def test_legacy_errors_are_deprecated_too(make_kit) -> None:
    r = make_kit().client.post("/rag/things")
    assert r.status_code == 409
    assert r.headers["deprecation"] == "true"


def test_routes_declared_without_legacy_have_no_twin(make_kit) -> None:
    assert make_kit().client.get("/rag/boom").status_code == 404


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
def test_v2_is_an_empty_namespace(make_kit, method: str) -> None:
    kit = make_kit()
    r = kit.client.request(method, "/api/v2/rag/things/a")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert "v2 has no routes yet" in r.json()["detail"]
    assert "/api/v1/rag/things/a" in r.json()["detail"]
    assert kit.client.get("/api/v2").status_code == 404
    assert kit.sample("ragplane_api_requests_total", version="v2") == 2


def test_v1_requests_are_counted(make_kit) -> None:
    kit = make_kit()
    kit.client.get("/api/v1/rag/things/a")
    kit.client.get("/health")
    assert kit.sample("ragplane_api_requests_total", version="v1") == 1
    assert kit.sample("ragplane_api_requests_total", version="legacy") == 0
