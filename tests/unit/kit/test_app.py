"""The service shape every app gets from the kit: routes, errors, headers, metrics, docs."""

import asyncio

from ragplane.kit.problems import PROBLEM_JSON
from tests.unit.kit.conftest import SECRET


def test_versioned_route_answers_with_version_header(make_kit) -> None:
    kit = make_kit()
    r = kit.client.get("/api/v1/rag/things/a?q=1")
    assert r.status_code == 200
    assert r.json() == {"name": "a", "q": "1"}
    assert r.headers["x-api-version"] == "v1"
    assert "deprecation" not in r.headers


def test_unknown_route_is_a_404_problem(make_kit) -> None:
    r = make_kit().client.get("/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["x-api-version"] == "v1"
    body = r.json()
    assert body["type"] == "urn:ragplane:problem:not-found"
    assert body["instance"] == "/nope"
    assert "GET /nope" in body["detail"]


def test_a_trailing_slash_is_a_404_naming_the_path_never_a_redirect(make_kit) -> None:
    client = make_kit().client
    r = client.get("http://query.internal:8001/api/v1/rag/things/a/?q=1", follow_redirects=False)
    assert (r.status_code, r.headers["content-type"]) == (404, PROBLEM_JSON)
    assert "location" not in r.headers and "query.internal" not in r.text
    assert r.json()["detail"] == "No route matches GET /api/v1/rag/things/a/; did you mean /api/v1/rag/things/a?"
    assert client.get("/health/").json()["detail"].endswith("did you mean /health?")
    assert client.get("/api/v1/rag/nothing/").json()["detail"] == "No route matches GET /api/v1/rag/nothing/."


def test_wrong_method_is_a_405_problem_with_allow(make_kit) -> None:
    r = make_kit().client.delete("/api/v1/rag/things/a")
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM_JSON
    assert "GET" in r.headers["allow"]
    assert r.json()["type"] == "urn:ragplane:problem:method-not-allowed"


def test_problem_errors_map_to_their_status(make_kit) -> None:
    r = make_kit().client.post("/api/v1/rag/things")
    assert r.status_code == 409
    assert r.json()["detail"] == "it exists"


def test_unhandled_error_is_a_500_without_internals(make_kit, caplog) -> None:
    kit = make_kit()
    r = kit.client.get("/api/v1/rag/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.headers["x-api-version"] == "v1"
    body = r.json()
    assert "passwd" not in r.text and "Traceback" not in r.text
    assert len(body["trace_id"]) == 32
    logged = [rec for rec in caplog.records if rec.name == "ragplane.errors"]
    assert logged and logged[0].exc_info is not None
    assert kit.sample("ragplane_http_requests_total", route="/api/v1/rag/boom", method="GET", status="500") == 1


OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_ACCEPT = (  # what Prometheus 2.x sends when it scrapes
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def test_metrics_endpoint_serves_text_and_openmetrics(make_kit) -> None:
    kit = make_kit()
    kit.client.get("/api/v1/rag/things/x")
    text = kit.client.get("/metrics")
    assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert text.headers["vary"] == "Accept"
    assert 'route="/api/v1/rag/things/{name}"' in text.text
    assert "# {" not in text.text  # the classic format has no exemplars
    om = kit.client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["content-type"] == OPENMETRICS
    assert om.text.endswith("# EOF\n")
    for accept in (PROMETHEUS_ACCEPT, "application/openmetrics-text; version=1.0.0"):
        answer = kit.client.get("/metrics", headers={"Accept": accept})
        assert answer.headers["content-type"].startswith(OPENMETRICS)
    for accept in (
        "text/plain;version=0.0.4",
        "*/*",
        "text/html,application/json",
        "application/openmetrics-text;version=0.0.1",
    ):
        assert kit.client.get("/metrics", headers={"Accept": accept}).headers["content-type"].startswith("text/plain")


def test_openmetrics_shows_the_request_trace_as_the_latency_exemplar(make_kit) -> None:
    kit = make_kit()
    kit.client.get("/api/v1/rag/things/x")
    (span,) = [s for s in kit.spans.get_finished_spans() if s.name == "GET /api/v1/rag/things/{name}"]
    trace_id = format(span.context.trace_id, "032x")
    page = kit.client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).text
    buckets = [
        line
        for line in page.splitlines()
        if line.startswith("ragplane_http_request_duration_seconds_bucket")
        and 'route="/api/v1/rag/things/{name}"' in line
    ]
    traced = [line for line in buckets if "# {" in line]
    assert len(traced) == 1, "the one bucket the request's latency fell in"
    assert f'# {{trace_id="{trace_id}"}} ' in traced[0]


def test_openapi_document_lists_every_route(make_kit) -> None:
    doc = make_kit().client.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/api/v1/rag/things/{name}", "/api/v1/rag/things", "/api/v1/rag/boom"}
    op = doc["paths"]["/api/v1/rag/things/{name}"]["get"]
    assert op["parameters"][0] == {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    assert op["responses"]["default"]["content"][PROBLEM_JSON]


def test_docs_page_and_assets_are_served_locally(make_kit) -> None:
    kit = make_kit()
    page = kit.client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text and "/docs/assets/swagger-ui-bundle.js" in page.text
    asset = kit.client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_internal_routes_exist_only_behind_a_token(make_kit) -> None:
    assert make_kit().client.get("/internal/config").status_code == 404
    kit = make_kit(secrets=[SECRET])
    asyncio.run(kit.cache.put("a", 1))
    headers = {"X-Service-Token": SECRET}
    assert kit.client.post("/internal/cache/clear", headers=headers).json() == {"cleared": {"things": 1}}
    assert asyncio.run(kit.cache.get("a")) is None
    assert kit.client.get("/internal/config", headers=headers).json() == {"settings": {"secret": "***", "port": 1}}
    assert kit.client.get("/internal/config").status_code == 403


def test_every_request_is_logged_as_json(make_kit, json_logs) -> None:
    make_kit().client.get("/api/v1/rag/things/a")
    request = json_logs.records(event="request")[0]
    assert request["service"] == "demo"
    assert request["route"] == "/api/v1/rag/things/{name}"
    assert request["status"] == 200 and request["method"] == "GET"
    assert len(request["trace_id"]) == 32 and request["duration_ms"] >= 0
