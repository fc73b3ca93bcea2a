"""Latency buckets carry the trace id of a sampled span current at the observation, and nothing else does."""

import pytest
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
from prometheus_client.samples import Exemplar

from ragplane.telemetry import catalog, exemplars
from ragplane.telemetry.catalog import CATALOG, Kind
from ragplane.telemetry.exemplars import TracedHistogram, traced
from ragplane.telemetry.metrics import ServiceMetrics

SEARCH = {"route": "/api/v1/rag/search", "method": "POST"}


def tracer(sampler: sampling.Sampler = sampling.ALWAYS_ON) -> Tracer:
    return TracerProvider(sampler=sampler).get_tracer("test")


def exemplars_of(registry: CollectorRegistry, name: str) -> dict[str, Exemplar]:
    """The exemplars of a histogram's buckets, by `le`."""
    return {
        s.labels["le"]: s.exemplar
        for family in registry.collect()
        for s in family.samples
        if s.name == f"{name}_bucket" and s.exemplar is not None
    }


def test_a_sampled_span_puts_its_trace_id_on_the_bucket_the_value_falls_in() -> None:
    m = ServiceMetrics("query")
    with tracer().start_as_current_span("request") as span:
        m.histogram(catalog.HTTP_REQUEST_DURATION).labels(**SEARCH).observe(0.042)
    trace_id = format(span.get_span_context().trace_id, "032x")
    found = exemplars_of(m.registry, "ragplane_http_request_duration_seconds")
    assert list(found) == ["0.05"]  # only the bucket the value falls in, not every one above it
    assert found["0.05"].labels == {"trace_id": trace_id}
    assert found["0.05"].value == 0.042
    (line,) = [line for line in openmetrics(m.registry).decode().splitlines() if 'le="0.05"' in line]
    assert f'}} 1.0 # {{trace_id="{trace_id}"}} 0.042 ' in line  # then the exemplar's timestamp


def test_a_bucket_takes_the_trace_of_one_observation_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each bucket looks at the current span once per EXEMPLAR_EVERY_S; in between it only counts."""
    now = [100.0]
    monkeypatch.setattr(exemplars, "_clock", lambda: now[0])
    m = ServiceMetrics("query")
    child = m.histogram(catalog.VECTOR_SEARCH_DURATION).labels(collection="docs")

    def observe(value: float, sampler: sampling.Sampler = sampling.ALWAYS_ON) -> str:
        with tracer(sampler).start_as_current_span("request") as span:
            child.observe(value)
        return format(span.get_span_context().trace_id, "032x")

    def kept() -> dict[str, str]:
        return {le: e.labels["trace_id"] for le, e in exemplars_of(m.registry, child._name).items()}

    first = observe(0.002)
    now[0] += 0.5
    observe(0.002)  # the same bucket within the second: counted, exemplar unchanged
    slow = observe(0.7)  # another bucket, another turn
    assert kept() == {"0.0025": first, "1.0": slow}
    now[0] += 0.5
    latest = observe(0.002)  # a second after the bucket's last turn
    assert kept() == {"0.0025": latest, "1.0": slow}
    now[0] += 1
    observe(0.7, sampling.ALWAYS_OFF)  # an unsampled observation uses its turn, and attaches nothing
    observe(0.7)
    assert kept() == {"0.0025": latest, "1.0": slow}
    assert m.registry.get_sample_value("ragplane_vector_search_duration_seconds_count", {"collection": "docs"}) == 6


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(lambda: tracer(sampling.ALWAYS_OFF).start_as_current_span("request"), id="unsampled span"),
        pytest.param(
            lambda: tracer(sampling.ParentBased(sampling.TraceIdRatioBased(0))).start_as_current_span("request"),
            id="ratio 0",
        ),
    ],
)
def test_an_unsampled_span_makes_no_exemplar(current) -> None:
    m = ServiceMetrics("gateway")
    with current():
        m.histogram(catalog.HTTP_REQUEST_DURATION).labels(**SEARCH).observe(0.042)
    assert exemplars_of(m.registry, "ragplane_http_request_duration_seconds") == {}


def test_no_span_makes_no_exemplar_and_a_disabled_sdk_none_either() -> None:
    m = ServiceMetrics("gateway")
    m.histogram(catalog.GATEWAY_UPSTREAM_DURATION).labels(upstream="query").observe(0.01)
    provider = TracerProvider()
    provider._disabled = True  # as OTEL_SDK_DISABLED makes it (kit.tracing.create_tracer_provider)
    with provider.get_tracer("test").start_as_current_span("request"):
        m.histogram(catalog.GATEWAY_UPSTREAM_DURATION).labels(upstream="query").observe(0.01)
    assert m.registry.get_sample_value("ragplane_gateway_upstream_duration_seconds_count", {"upstream": "query"}) == 2
    assert exemplars_of(m.registry, "ragplane_gateway_upstream_duration_seconds") == {}


def test_an_explicit_exemplar_wins_and_an_empty_one_means_none() -> None:
    m = ServiceMetrics("query")
    child = m.histogram(catalog.ANSWER_DURATION).labels(answerer="extractive")
    with tracer().start_as_current_span("request"):
        child.observe(0.07, {"trace_id": "f" * 32})
        child.observe(3.0, {})
    found = exemplars_of(m.registry, "ragplane_answer_duration_seconds")
    assert {le: e.labels for le, e in found.items()} == {"0.1": {"trace_id": "f" * 32}}


@pytest.mark.parametrize("metric", [m for m in CATALOG if m.kind is Kind.HISTOGRAM], ids=lambda m: m.name)
def test_latency_histograms_are_traced_and_count_histograms_are_not(metric: catalog.Metric) -> None:
    family = ServiceMetrics("query").histogram(metric)
    assert isinstance(family._parent, TracedHistogram) is traced(metric) is metric.name.endswith("_seconds")
    free = {name: "x" for name in metric.labels if name != "service"}
    with tracer().start_as_current_span("request"):
        family.labels(**free).observe(0)
    has_exemplar = any(s.exemplar for f in family._parent.collect() for s in f.samples)
    assert has_exemplar is metric.name.endswith("_seconds")
