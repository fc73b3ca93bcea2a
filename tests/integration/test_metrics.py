"""/metrics on each service shows the catalogue's metrics with real counts."""

from prometheus_client.parser import text_string_to_metric_families

from ragplane.telemetry import catalog
from tests.running import RunningStack


def families(client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(family, **labels) -> float:
    return sum(
        s.value
        for s in family.samples
        if s.name.endswith(("_total", "_count")) or s.name == family.name
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_after_searches_the_counts_are_non_zero(stack: RunningStack, gateway, demo_corpus) -> None:
    for query in ("circuit breaker", "service token", "backups"):
        gateway.get("/api/v1/rag/search", params={"query": query})
    gateway.post("/api/v1/rag/query", json={"query": "What is ragplane?"})
    with stack.client("query") as query_client:
        query_metrics = families(query_client)
    gateway_metrics = families(gateway)
    assert value(gateway_metrics["ragplane_http_requests"], route="/api/v1/rag/search", status="200") >= 3
    assert value(gateway_metrics["ragplane_gateway_upstream_requests"], upstream="query", status="200") >= 4
    assert value(query_metrics["ragplane_http_requests"], route="/api/v1/rag/search", method="GET") >= 3
    assert value(query_metrics["ragplane_http_request_duration_seconds"], route="/api/v1/rag/query") >= 1
    assert value(query_metrics["ragplane_api_requests"], version="v1") >= 4
    assert value(query_metrics["ragplane_service_auth"], result="ok") >= 4
    assert value(query_metrics["ragplane_embedding_duration_seconds"]) >= 1
    assert value(query_metrics["ragplane_vector_search_duration_seconds"], collection="docs") >= 4
    assert value(query_metrics["ragplane_search_results"], collection="docs") >= 4
    assert value(query_metrics["ragplane_answer_duration_seconds"], answerer="extractive") >= 1
    assert value(query_metrics["ragplane_answers"], answerer="extractive", degraded="false") >= 1
    assert value(query_metrics["ragplane_answers"], answerer="extractive", degraded="true") == 0
    assert value(query_metrics["ragplane_qdrant_requests"], node="local", result="ok") >= 4
    assert value(query_metrics["ragplane_qdrant_node_up"], node="local") == 1


def test_route_labels_are_templates(stack: RunningStack, gateway, demo_corpus) -> None:
    gateway.get("/api/v1/rag/collections/docs/stats")
    gateway.get("/api/v1/rag/collections/does-not-exist-123")
    with stack.client("collections") as client:
        text = client.get("/metrics").text
    assert 'route="/api/v1/rag/collections/{name}/stats"' in text
    assert "does-not-exist-123" not in text


def test_each_service_exports_only_its_own_series(stack: RunningStack) -> None:
    for service in ("gateway", "query", "collections"):
        with stack.client(service) as client:
            for family in families(client).values():
                for sample in family.samples:
                    assert sample.labels.get("service", service) == service


def test_every_exported_ragplane_metric_is_in_the_catalogue(stack: RunningStack, demo_corpus) -> None:
    declared = {m.name.removesuffix("_total") for m in catalog.CATALOG}
    for service in ("gateway", "query", "collections"):
        with stack.client(service) as client:
            exported = {name for name in families(client) if name.startswith("ragplane_")}
            assert exported <= declared, exported - declared


def test_openmetrics_on_request(stack: RunningStack) -> None:
    with stack.client("collections") as client:
        r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert "ragplane_collection_documents" in r.text
