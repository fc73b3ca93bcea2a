from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, Histogram

from ragplane.kit.tracing import create_tracer_provider, current_trace_id, stage


def test_stage_records_a_span_and_a_histogram() -> None:
    spans = InMemorySpanExporter()
    provider = create_tracer_provider("query", processors=(SimpleSpanProcessor(spans),))
    histogram = Histogram("h_seconds", "h", registry=CollectorRegistry())
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("request"), stage(tracer, "embed", histogram, texts=3):
        inner = current_trace_id()
    [embed, request] = spans.get_finished_spans()
    assert embed.name == "embed" and embed.attributes == {"texts": 3}
    assert embed.parent is not None and embed.parent.span_id == request.context.span_id
    assert inner == format(request.context.trace_id, "032x")
    assert histogram.collect()[0].samples[1].value == 1  # _count
    assert embed.resource.attributes["service.name"] == "ragplane-query"


def test_no_trace_outside_a_span() -> None:
    assert current_trace_id() is None
