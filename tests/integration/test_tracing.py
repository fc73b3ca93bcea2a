"""One trace per request across gateway → query → embedder/Qdrant, and OTLP export."""

import time
import uuid
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fakes.receiver import Receiver
from tests.running import RunningStack


def spans_of(stack: RunningStack, trace_id: int, wait_for: int, timeout: float = 5) -> list:
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in stack.spans.get_finished_spans() if s.context.trace_id == trace_id]
        if len(spans) >= wait_for or time.monotonic() > deadline:
            return spans
        time.sleep(0.02)


def test_a_search_is_one_trace_across_services(stack, gateway, demo_corpus) -> None:
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    caller = f"00-{trace_id:032x}-00f067aa0ba902b7-01"
    r = gateway.get(
        "/api/v1/rag/search",
        params={"query": f"traced request {uuid.uuid4().hex}", "collection": "docs"},  # new text: embedded, not cached
        headers={"traceparent": caller},
    )
    assert r.status_code == 200
    spans = spans_of(stack, trace_id, wait_for=5)
    by_service = {}
    for span in spans:
        by_service.setdefault(span.resource.attributes["service.name"], []).append(span)
    assert {"ragplane-gateway", "ragplane-query"} <= set(by_service)
    query_server = next(s for s in by_service["ragplane-query"] if s.kind.name == "SERVER")
    gateway_client = next(s for s in by_service["ragplane-gateway"] if s.kind.name == "CLIENT")
    assert query_server.parent.span_id == gateway_client.context.span_id
    names = {s.name for s in by_service["ragplane-query"]}
    assert {"embed", "vector_search"} <= names
    vector = next(s for s in by_service["ragplane-query"] if s.name == "vector_search")
    assert vector.attributes["collection"] == "docs"


def test_the_trace_id_reaches_logs_and_problems(gateway, json_logs) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    r = gateway.get(
        "/api/v1/rag/search",
        params={"query": "x", "collection": "missing-one"},
        headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
    )
    assert r.status_code == 404
    assert r.json()["trace_id"] == trace_id
    deadline = time.monotonic() + 5  # the gateway logs once the last body byte is sent
    while (services := {rec["service"] for rec in json_logs.records(event="request", trace_id=trace_id)}) != {
        "gateway",
        "query",
    } and time.monotonic() < deadline:
        time.sleep(0.02)
    assert services == {"gateway", "query"}


def test_ingestion_jobs_are_traced(stack, collections, unique) -> None:
    from tests.running import ingest

    ingest(collections, unique("t"), [{"id": "a", "text": "traced ingestion"}])
    names = {
        s.name
        for s in stack.spans.get_finished_spans()
        if s.resource.attributes["service.name"] == "ragplane-collections"
    }
    assert {"ingest", "embed", "upsert"} <= names


def parse_export(body: bytes) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    return message


def test_spans_are_exported_over_otlp(make_settings) -> None:
    collector = Receiver(parse_export, content_type="application/x-protobuf")  # an OTLP/HTTP trace receiver
    settings = make_settings(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
    gateway_only = RunningStack(settings, services=("gateway",)).start(wait_ready=False)
    try:
        with gateway_only.client() as client:
            client.get("/health")
    finally:
        gateway_only.stop()  # shutdown flushes the batch processor
        collector.stop()
    names = {
        span.name
        for _, request in collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert any("/health" in name for name in names)
    resource = collector.received[0][1].resource_spans[0].resource
    assert any(a.key == "service.name" and a.value.string_value == "ragplane-gateway" for a in resource.attributes)


def streamed_upload(size: int, boundary: str) -> Iterator[bytes]:
    """A multipart upload of one `size`-byte file, sent in chunks (no Content-Length: chunked encoding)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.md"\r\n'
        "Content-Type: text/markdown\r\n\r\n"
    ).encode()
    chunk = b"\xff" * 65536  # not UTF-8: refused after the whole body is read, so nothing is ingested
    for _ in range(size // len(chunk)):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def test_trace_ids_stay_with_their_request_after_a_streamed_upload(stack, unique, json_logs) -> None:
    upload_trace = "5a1b2c3d4e5f60718293a4b5c6d7e8f9"
    name = unique("t")
    with stack.client("gateway") as client:  # one client: the requests reuse one keep-alive connection
        assert client.post("/api/v1/rag/collections", json={"name": name}).status_code == 201
        upload = client.post(
            f"/api/v1/rag/collections/{name}/documents",
            content=streamed_upload(1024 * 1024, "b0undary"),
            headers={
                "content-type": "multipart/form-data; boundary=b0undary",
                "traceparent": f"00-{upload_trace}-b7ad6b7169203331-01",
            },
        )
        assert upload.status_code == 422 and upload.json()["trace_id"] == upload_trace
        answered = {}
        for i in range(4):
            path = f"/api/v1/rag/collections/{name}-missing-{i}"
            r = client.get(path)
            assert r.status_code == 404
            answered[path] = r.json()["trace_id"]
    assert upload_trace not in answered.values()
    assert len(set(answered.values())) == len(answered)  # each request its own trace
    deadline = time.monotonic() + 5  # the gateway logs once the last body byte is sent
    while True:
        logged = {rec["path"]: rec["trace_id"] for rec in json_logs.records(event="request", service="gateway")}
        if set(answered) <= set(logged) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert {path: logged.get(path) for path in answered} == answered
