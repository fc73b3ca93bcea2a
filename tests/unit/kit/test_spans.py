"""The ring of recent spans behind `ragplane trace`, and its /internal route."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from ragplane.errors import ValidationFailed
from ragplane.kit.spans import SpanRing, keep_recent_spans, parse_trace_id, ring_of
from ragplane.kit.tracing import create_tracer_provider, sampler
from tests.unit.kit.conftest import PREVIOUS, SECRET


def traced(ring_size: int) -> tuple[TracerProvider, SpanRing]:
    provider = TracerProvider()
    return provider, keep_recent_spans(provider, "query", ring_size)


def one_trace(provider: TracerProvider, children: int = 0) -> int:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("request") as root:
        for i in range(children):
            with tracer.start_as_current_span(f"step-{i}"):
                pass
    return int(root.get_span_context().trace_id)


def test_a_trace_is_found_by_its_id_with_parents_and_durations() -> None:
    provider, ring = traced(100)
    tracer = provider.get_tracer("t")
    with (
        tracer.start_as_current_span("GET /api/v1/rag/search", attributes={"http.route": "/x"}) as root,
        tracer.start_as_current_span("embed", attributes={"texts": 1, "tags": ("a", "b")}) as child,
    ):
        child.set_status(StatusCode.ERROR)
    trace_id = root.get_span_context().trace_id
    embed, request = ring.trace(trace_id)  # in the order they finished
    assert (embed.name, request.name) == ("embed", "GET /api/v1/rag/search")
    assert embed.parent_id == request.span_id and request.parent_id is None
    assert request.start_ns <= embed.start_ns <= embed.end_ns <= request.end_ns
    shown = embed.as_json("query")
    assert shown["trace_id"] == format(trace_id, "032x") and len(shown["span_id"]) == 16
    assert shown["parent_id"] == format(request.span_id, "016x")
    assert shown["service"] == "query" and shown["kind"] == "internal" and shown["status"] == "error"
    assert shown["attributes"] == {"texts": 1, "tags": ["a", "b"]}
    assert shown["duration_ms"] == pytest.approx((embed.end_ns - embed.start_ns) / 1e6, abs=1e-3)
    assert request.as_json("query")["status"] == "ok"
    assert ring.trace(trace_id + 1) == []


def test_the_ring_holds_at_most_its_capacity_and_drops_the_oldest_first() -> None:
    provider, ring = traced(11)
    traces = [one_trace(provider, children=2) for _ in range(5)]  # 15 spans through a ring of 11
    assert len(ring) == 11
    assert ring.trace(traces[0]) == []  # all three spans gone
    assert [s.name for s in ring.trace(traces[1])] == ["step-1", "request"]  # its oldest span gone
    for trace_id in traces[2:]:
        assert [s.name for s in ring.trace(trace_id)] == ["step-0", "step-1", "request"]
    assert ring.traces() == 4


def test_eviction_keeps_the_index_small_whatever_the_traffic() -> None:
    provider, ring = traced(50)
    long_trace = one_trace(provider, children=499)  # one trace ten times the ring
    assert len(ring) == 50 and len(ring.trace(long_trace)) == 50
    assert ring.trace(long_trace)[-1].name == "request"
    assert len(ring._traces[long_trace].spans) <= 100  # evicted spans are cut off, not kept behind the head
    for _ in range(200):
        one_trace(provider)
    assert len(ring) == 50 and ring.traces() == 50 and ring.trace(long_trace) == []


def test_spans_ending_in_several_threads_are_all_counted() -> None:
    provider, ring = traced(10_000)

    def work() -> None:
        for _ in range(200):
            one_trace(provider, children=1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ring) == 4 * 200 * 2 and ring.traces() == 800


def test_every_service_provider_keeps_a_ring_of_sampled_spans_only() -> None:
    provider = create_tracer_provider("gateway")
    ring = ring_of(provider)
    assert ring is not None and ring.service == "gateway" and ring.capacity >= 1000
    assert len(ring.trace(one_trace(provider))) == 1
    unsampled = create_tracer_provider("query", sampled_by=sampler("always_off"))
    one_trace(unsampled)
    assert len(ring_of(unsampled) or ()) == 0
    assert ring_of(TracerProvider()) is None


def test_a_ring_needs_room_for_one_span() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SpanRing("query", 0)


@pytest.mark.parametrize(
    "text",
    [
        "4BF92F3577B34DA6A3CE929D0E0E4736",
        " 4bf92f3577b34da6a3ce929d0e0e4736\n",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a traceresponse, copied whole
    ],
)
def test_trace_ids_are_read_in_any_case_and_from_a_trace_header(text: str) -> None:
    assert parse_trace_id(text) == 0x4BF92F3577B34DA6A3CE929D0E0E4736


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xyz",
        "4bf92f3577b34da6a3ce929d0e0e473",
        "0" * 32,
        "4bf92f3577b34da6-3ce929d0e0e4736",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
    ],
)
def test_malformed_trace_ids_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed, match="32 hexadecimal digits"):
        parse_trace_id(text)


def test_the_internal_route_answers_a_traces_spans_behind_the_token(make_kit) -> None:
    kit = make_kit(secrets=[SECRET, PREVIOUS])
    served = kit.client.get("/api/v1/rag/things/x", headers={"X-Service-Token": SECRET})
    assert served.status_code == 200
    (span,) = [s for s in kit.spans.get_finished_spans() if s.name == "GET /api/v1/rag/things/{name}"]
    trace_id = format(span.context.trace_id, "032x")
    assert kit.client.get(f"/internal/traces/{trace_id}").status_code == 403
    for secret in (SECRET, PREVIOUS):
        answer = kit.client.get(f"/internal/traces/{trace_id.upper()}", headers={"X-Service-Token": secret})
        assert answer.status_code == 200
        body = answer.json()
        assert body["service"] == "demo" and body["trace_id"] == trace_id
        (shown,) = body["spans"]
        assert shown["name"] == "GET /api/v1/rag/things/{name}" and shown["kind"] == "server"
        assert shown["attributes"]["http.response.status_code"] == 200
    other = kit.client.get(f"/internal/traces/{'1' * 32}", headers={"X-Service-Token": SECRET})
    assert other.status_code == 200 and other.json()["spans"] == []
    bad = kit.client.get("/internal/traces/nope", headers={"X-Service-Token": SECRET})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"] == [{"field": "trace_id", "message": "must be 32 hexadecimal digits, not all zero"}]


def test_without_service_secrets_there_is_no_trace_route(make_kit) -> None:
    assert make_kit().client.get(f"/internal/traces/{'1' * 32}").status_code == 404
