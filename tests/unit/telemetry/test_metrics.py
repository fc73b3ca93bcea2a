import pytest
from prometheus_client import generate_latest

from ragplane import __version__
from ragplane.telemetry import catalog
from ragplane.telemetry.metrics import ServiceMetrics


def test_service_label_is_bound_and_build_info_set() -> None:
    m = ServiceMetrics("query")
    m.counter(catalog.HTTP_REQUESTS).labels(route="/x", method="GET", status="200").inc()
    r = m.registry
    labels = {"service": "query", "route": "/x", "method": "GET", "status": "200"}
    assert r.get_sample_value("ragplane_http_requests_total", labels) == 1
    assert r.get_sample_value("ragplane_build_info", {"service": "query", "version": __version__}) == 1


def test_known_label_values_exist_at_zero() -> None:
    m = ServiceMetrics("gateway")
    m.counter(catalog.API_REQUESTS)
    for version in catalog.API_VERSIONS:
        assert (
            m.registry.get_sample_value("ragplane_api_requests_total", {"service": "gateway", "version": version}) == 0
        )


def test_prime_with_a_fixed_label_and_forget() -> None:
    m = ServiceMetrics("collections")
    docs = m.counter(catalog.INGESTION_DOCUMENTS)
    docs.prime(collection="a")
    docs.prime(collection="b")
    sample = m.registry.get_sample_value
    assert sample("ragplane_ingestion_documents_total", {"collection": "a", "result": "skipped"}) == 0
    docs.forget(collection="a")
    assert sample("ragplane_ingestion_documents_total", {"collection": "a", "result": "skipped"}) is None
    assert sample("ragplane_ingestion_documents_total", {"collection": "b", "result": "failed"}) == 0
    docs.labels(collection="a", result="skipped").inc()  # a series counted again after forget is exported again
    assert sample("ragplane_ingestion_documents_total", {"collection": "a", "result": "skipped"}) == 1


def test_families_are_cached_and_typed() -> None:
    m = ServiceMetrics("query")
    assert m.histogram(catalog.EMBEDDING_DURATION) is m.histogram(catalog.EMBEDDING_DURATION)
    family = m.histogram(catalog.EMBEDDING_DURATION)
    assert family.labels(embedder="x") is family.labels(embedder="x")
    with pytest.raises(TypeError, match="histogram"):
        m.counter(catalog.EMBEDDING_DURATION)


def test_registries_are_separate_per_service() -> None:
    a, b = ServiceMetrics("query"), ServiceMetrics("collections")
    a.counter(catalog.SERVICE_AUTH).labels(result="ok").inc()
    assert b'service="query"' not in generate_latest(b.registry)


def test_bounded_label_admits_a_limited_number_of_values() -> None:
    from ragplane.telemetry.metrics import OVERFLOW, BoundedLabel

    label = BoundedLabel(2)
    assert [label("a"), label("b"), label("c"), label("a")] == ["a", "b", OVERFLOW, "a"]
    assert label.release("a") and not label.release("zzz")
    assert label("c") == "c"
