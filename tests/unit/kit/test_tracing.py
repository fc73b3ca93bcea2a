from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, Histogram

from ragplane.kit.tracing import create_tracer_provider, current_trace_id, sampler, stage


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


def test_every_standard_sampler_is_built_and_honoured() -> None:
    from ragplane.settings.telemetry import TRACE_SAMPLERS

    for name in TRACE_SAMPLERS:
        assert sampler(name, 0.5).get_description()
    spans = InMemorySpanExporter()
    provider = create_tracer_provider(
        "query", sampled_by=sampler("always_off"), processors=(SimpleSpanProcessor(spans),)
    )
    with provider.get_tracer("t").start_as_current_span("request"):
        assert current_trace_id() is not None  # logs still get a trace id
    assert spans.get_finished_spans() == ()


def test_a_disabled_sdk_makes_no_spans_and_no_trace_ids() -> None:
    spans = InMemorySpanExporter()
    provider = create_tracer_provider("query", disabled=True, processors=(SimpleSpanProcessor(spans),))
    with provider.get_tracer("t").start_as_current_span("request"):
        assert current_trace_id() is None
    assert spans.get_finished_spans() == ()


def test_a_client_span_puts_its_traceparent_on_the_request_and_marks_failures() -> None:
    import asyncio

    import pytest

    from ragplane.kit.tracing import client_span

    spans = InMemorySpanExporter()
    tracer = create_tracer_provider("gateway", processors=(SimpleSpanProcessor(spans),)).get_tracer("t")
    headers: dict[str, str] = {}

    async def go() -> None:
        async with client_span(tracer, "GET", "query", 8001, "/rag/search?q=1", headers):
            pass
        with pytest.raises(ConnectionRefusedError):
            async with client_span(tracer, "POST", "query", None, "/rag/query", {}):
                raise ConnectionRefusedError("refused")

    asyncio.run(go())
    ok, failed = spans.get_finished_spans()
    assert headers["traceparent"].startswith(f"00-{ok.context.trace_id:032x}-{ok.context.span_id:016x}-")
    assert ok.kind.name == "CLIENT" and ok.name == "GET"
    assert dict(ok.attributes) == {
        "http.request.method": "GET",
        "server.address": "query",
        "server.port": 8001,
        "url.path": "/rag/search",
    }
    assert failed.status.status_code.name == "ERROR" and "server.port" not in failed.attributes


def test_a_server_span_continues_the_callers_trace_and_is_named_after_the_route() -> None:
    import pytest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ragplane.kit.tracing import instrument_app

    async def item(request: Request) -> PlainTextResponse:
        if request.path_params["id"] == "boom":
            raise RuntimeError("a bug")
        inner = current_trace_id()
        return PlainTextResponse(inner or "", status_code=503 if request.path_params["id"] == "down" else 200)

    spans = InMemorySpanExporter()
    app = Starlette(routes=[Route("/items/{id}", item)])
    instrument_app(app, create_tracer_provider("query", processors=(SimpleSpanProcessor(spans),)))
    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    with TestClient(app, raise_server_exceptions=False) as client:
        ok = client.get("/items/1", headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"})
        client.get("/items/down")
        client.get("/nowhere")
        with pytest.raises(RuntimeError):
            TestClient(app).get("/items/boom")
    assert ok.text == caller  # the handler runs inside the server span
    first, down, unmatched, failed = spans.get_finished_spans()
    assert first.kind.name == "SERVER" and first.name == "GET /items/{id}"
    assert format(first.context.trace_id, "032x") == caller and first.parent.span_id == 0x00F067AA0BA902B7
    assert dict(first.attributes) == {
        "http.request.method": "GET",
        "url.path": "/items/1",
        "http.response.status_code": 200,
        "http.route": "/items/{id}",
    }
    assert first.status.status_code.name == "UNSET"
    assert down.status.status_code.name == "ERROR" and down.attributes["http.response.status_code"] == 503
    assert unmatched.name == "GET unmatched" and unmatched.attributes["http.response.status_code"] == 404
    assert failed.status.status_code.name == "ERROR" and failed.events[0].name == "exception"
