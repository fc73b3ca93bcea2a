"""OpenTelemetry tracing: one provider per service, W3C `traceparent` across hops.

Every service always runs the SDK tracer, so each request has a trace id that appears
in logs and travels to upstream calls even when nothing is exported. Spans are exported
over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without an exporter a span
costs a few microseconds (ids and a context switch), which is the "near-zero" price of
always-correlatable logs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, MutableMapping, Sequence
from contextlib import asynccontextmanager, contextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from prometheus_client import Histogram
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplane import __version__
from ragplane.kit.access import route_template
from ragplane.kit.spans import keep_recent_spans


def sampler(name: str, arg: float = 1.0) -> sampling.Sampler:
    """OpenTelemetry's standard sampler called `name` (OTEL_TRACES_SAMPLER), with ratio `arg` where it takes one."""
    roots: dict[str, sampling.Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(arg),
    }
    root = name.removeprefix("parentbased_")
    return sampling.ParentBased(roots[root]) if name.startswith("parentbased_") else roots[root]


def create_tracer_provider(
    service: str,
    *,
    otlp_endpoint: str | None = None,
    sampled_by: sampling.Sampler | None = None,
    disabled: bool = False,
    processors: tuple[SpanProcessor, ...] = (),
) -> TracerProvider:
    """A provider whose spans say which ragplane service made them.

    `otlp_endpoint` is the collector's base URL (spans go to `<endpoint>/v1/traces`);
    `sampled_by` decides which traces are recorded (default: the parent's choice, else all);
    `disabled` (OTEL_SDK_DISABLED) makes every span a no-op: no trace ids in logs, no
    `traceparent` of our own, the cheapest setting; `processors` lets tests attach an
    in-memory exporter. Every provider keeps its recent spans for `ragplane trace` (`kit.spans`).
    """
    provider = TracerProvider(
        sampler=sampled_by or sampling.ParentBased(sampling.ALWAYS_ON),
        resource=Resource.create(
            {"service.name": f"ragplane-{service}", "service.namespace": "ragplane", "service.version": __version__}
        ),
    )
    # The SDK reads OTEL_SDK_DISABLED from the process environment only; settings also read .env.
    provider._disabled = disabled
    keep_recent_spans(provider, service)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces")))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


PROPAGATED = frozenset({b"traceparent", b"tracestate", b"baggage"})  # what W3C propagation reads


class ServerSpans:
    """A SERVER span around every HTTP request, continuing the caller's trace from `traceparent`.

    Pure ASGI and written here rather than with OpenTelemetry's ASGI middleware, which for
    the same span spent about a fifth of a service's CPU per request (header collection,
    a dozen derived attributes, duration metrics nobody reads). The span is named after the
    matched route's template once routing is done (`GET /api/v1/rag/search`); a 5xx answer
    or an exception passing through marks it as an error.
    """

    def __init__(self, app: ASGIApp, *, tracer_provider: TracerProvider, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self.tracer = tracer_provider.get_tracer("ragplane.server")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in PROPAGATED}
        method = scope["method"]
        attributes: dict[str, str | int] = {"http.request.method": method, "url.path": scope["path"]}
        with self.tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(StatusCode.ERROR)
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = route_template(scope, self.routes)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)


def instrument_app(app: Starlette, provider: TracerProvider) -> None:
    """Server spans for every request (`ServerSpans`), outside all of the app's own middleware."""
    app.add_middleware(ServerSpans, tracer_provider=provider, routes=app.routes)


@asynccontextmanager
async def client_span(
    tracer: Tracer, method: str, host: str, port: int | None, path: str, headers: MutableMapping[str, str]
) -> AsyncIterator[Span]:
    """A client span around one outgoing call, whose `traceparent` goes in `headers` so the
    next hop joins the trace. Written here rather than with OpenTelemetry's client
    instrumentations, which spent more of the gateway's time per request (normalising headers,
    deriving a dozen attributes) than the rest of tracing together; a failed call marks the
    span as an error."""
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "server.address": host,
        "url.path": path.partition("?")[0],
    }
    if port is not None:
        attributes["server.port"] = port
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        propagate.inject(headers)
        yield span


@contextmanager
def stage(
    tracer: Tracer, name: str, histogram: Histogram | None = None, **attributes: str | int | float | bool
) -> Iterator[Span]:
    """One step of a request (embed, vector search, answer): a child span plus its latency histogram."""
    started = time.perf_counter()
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        try:
            yield current
        finally:
            if histogram is not None:
                histogram.observe(time.perf_counter() - started)


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def trace_response() -> dict[str, str]:
    """The `traceresponse` header (W3C Trace Context Level 2) naming the current span, for the
    caller to quote: `ragplane trace` takes it as it is, and it finds the request's log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"traceresponse": f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"}
