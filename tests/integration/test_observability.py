"""The truth check: a real Prometheus scrapes the embedded stack under a short mixed load.

Everything generated from the catalogue must hold against live data: every catalogue
metric is exported, every dashboard query and every rule expression evaluates, and the
panels of the Overview and Query Performance dashboards show data, and the exemplars
Prometheus stores lead to real requests. The stack runs with PostgreSQL (query logs,
registry backend) and Redis (caches, rate limits), as in production, and exports its spans
over OTLP to a receiver standing in for the collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import dashboards
from ragplane.ops.ingest import IngestClient, Source, run
from ragplane.services.gateway.auth import issue_token
from ragplane.telemetry.catalog import CATALOG, Kind
from tests.fakes.receiver import Receiver
from tests.integration.conftest import stack_settings
from tests.promstack import Prometheus, rules
from tests.running import RunningStack, until

ROOT = Path(__file__).resolve().parents[2]
MUST_SHOW_DATA = ("ragplane-overview", "ragplane-query-performance")
COLLECTION = f"truth-{uuid.uuid4().hex[:8]}"
SEARCH = "/api/v1/rag/search"

OtlpReceiver = Receiver[ExportTraceServiceRequest]


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP trace receiver: where the stack exports its spans."""
    receiver = Receiver(ExportTraceServiceRequest.FromString, content_type="application/x-protobuf")
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, embedding_model: object, session_database: str, otlp: OtlpReceiver
) -> Iterator[tuple[RunningStack, Prometheus]]:
    tmp = tmp_path_factory.mktemp("truth")
    settings = stack_settings(
        tmp / "data",
        DATABASE_URL=session_database,
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_KEY_PREFIX=f"truth-{uuid.uuid4().hex[:8]}:",
        JWT_SECRET=secrets.token_urlsafe(40),
        RATE_LIMIT_PLANS="free:1000000,pro:1000000,trial:2",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
    )
    with contextlib.ExitStack() as cleanup:
        stack = RunningStack(settings).start()
        cleanup.callback(stack.stop)
        prometheus = Prometheus(tmp / "prometheus", stack.urls)
        cleanup.callback(prometheus.stop)
        prometheus.start()
        drive_mixed_load(stack)
        # Every target scraped successfully well after the load, so rate() over it has samples on both
        # sides (on a busy machine a scrape can time out: wait for good ones rather than a fixed time).
        after = time.time() + 2
        prometheus.wait_for(
            f'count(up{{job="ragplane"}} == 1 and timestamp(up{{job="ragplane"}}) > {after}) == 3', timeout=60
        )
        yield stack, prometheus


def drive_mixed_load(stack: RunningStack) -> None:
    """Ingestions, a backup, searches and Q&A on v1 and legacy routes, and a few refusals (401, 404, 422, 429)."""
    collection = COLLECTION

    async def seed() -> None:
        async with IngestClient(stack.urls["collections"], service_token=stack.settings.service_token) as client:
            sources = [Source(ROOT / "docs/resilience.md", "docs"), Source(ROOT / "docs/gateway.md", "docs")]
            summary = await run(client, sources, collection, progress=False)
            assert summary.failed == 0 and not summary.errors, summary

    asyncio.run(seed())
    with stack.client("collections", token=True) as collections:  # the backup metrics: one backup
        assert collections.post("/internal/backups", json={"collection": collection}).status_code == 201
    trial = issue_token(stack.settings.gateway, sub="truth-trial", plan="trial", ttl_s=600)
    with httpx.Client(base_url=stack.urls["gateway"], timeout=60) as gateway:
        for question in ("circuit breaker", "rate limit", "maintenance mode", "circuit breaker"):
            assert gateway.get("/api/v1/rag/search", params={"query": question, "collection": collection}).is_success
            r = gateway.post("/api/v1/rag/query", json={"query": f"What is the {question}?", "collection": collection})
            assert r.is_success
        assert gateway.get("/rag/search", params={"query": "tokens", "collection": collection}).is_success
        assert gateway.get(f"/api/v1/rag/collections/{collection}/stats").is_success
        assert gateway.get("/api/v1/rag/collections/no-such-collection").status_code == 404
        assert gateway.post("/api/v1/rag/query", json={"query": ""}).status_code == 422
        assert gateway.get("/api/v1/rag/collections", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        statuses = [
            gateway.get("/api/v1/rag/collections", headers={"Authorization": f"Bearer {trial}"}).status_code
            for _ in range(4)
        ]
        assert 429 in statuses


def exported_names(prometheus: Prometheus) -> set[str]:
    """Every ragplane series name scraped in the last 30 s: one slow scrape on a busy machine
    makes the series stale for an instant query, not absent from a range."""
    result = prometheus.query('group by (__name__) (last_over_time({job="ragplane", __name__=~"ragplane_.+"}[30s]))')
    return {r["metric"]["__name__"] for r in result}


def test_every_catalogue_metric_is_exported(observed: tuple[RunningStack, Prometheus]) -> None:
    _, prometheus = observed
    expected = {m.name + ("_bucket" if m.kind is Kind.HISTOGRAM else "") for m in CATALOG}
    missing = expected - exported_names(prometheus)
    assert not missing, f"catalogue metrics Prometheus never saw: {sorted(missing)}"


def test_every_series_carries_the_scrape_labels(observed: tuple[RunningStack, Prometheus]) -> None:
    _, prometheus = observed
    unlabelled = prometheus.query('count by (__name__) (last_over_time({job="ragplane", service=""}[30s]))')
    assert unlabelled == []
    services = {r["metric"]["service"] for r in prometheus.query('max_over_time(up{job="ragplane"}[30s]) == 1')}
    assert services == {"gateway", "query", "collections"}


def test_every_rule_expression_evaluates(observed: tuple[RunningStack, Prometheus]) -> None:
    _, prometheus = observed
    every_rule = rules()
    assert every_rule
    failures = {}
    for rule in every_rule:
        try:
            prometheus.query(rule["expr"])
        except ValueError as exc:
            failures[rule.get("alert") or rule.get("record")] = str(exc)
    assert not failures
    # And Prometheus loaded the same file without complaint.
    loaded = prometheus.api("rules")["groups"]
    assert sum(len(g["rules"]) for g in loaded) == len(every_rule)
    assert all(r["health"] != "err" for g in loaded for r in g["rules"]), loaded


def test_every_dashboard_query_evaluates_and_the_main_dashboards_show_data(
    observed: tuple[RunningStack, Prometheus],
) -> None:
    _, prometheus = observed
    failures: dict[str, str] = {}
    series: dict[tuple[str, str], int] = defaultdict(int)
    for uid, title, expr in dashboards.queries():
        try:
            series[(uid, title)] += len(prometheus.query(expr))
        except ValueError as exc:
            failures[f"{uid} / {title}: {expr}"] = str(exc)
    assert not failures
    empty = [f"{uid} / {title}" for (uid, title), n in series.items() if uid in MUST_SHOW_DATA and n == 0]
    assert not empty, f"panels without data after the load: {empty}"
    assert {uid for uid, _ in series} >= set(MUST_SHOW_DATA)


def exported(otlp: OtlpReceiver) -> dict[str, set[tuple[str, str]]]:
    """Trace id → (service, span name) of every span the stack exported so far."""
    spans: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for _, request in list(otlp.received):
        for resource in request.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            for scope in resource.scope_spans:
                for span in scope.spans:
                    spans[span.trace_id.hex()].add((service.removeprefix("ragplane-"), span.name))
    return spans


def test_a_scraped_exemplar_is_the_trace_of_a_real_request(
    observed: tuple[RunningStack, Prometheus], otlp: OtlpReceiver, json_logs
) -> None:
    """The trace id of every exemplar Prometheus stored for these searches is a request the services
    logged (with the exemplar's value as its duration) and traced: its spans reached the collector."""
    stack, prometheus = observed
    start = time.time()
    with httpx.Client(base_url=stack.urls["gateway"], timeout=60) as gateway:
        for i in range(3):  # new texts: embedded and searched, not answered from the cache
            query = f"exemplar {i} {uuid.uuid4().hex}"
            assert gateway.get(SEARCH, params={"query": query, "collection": COLLECTION}).is_success

    def scraped() -> list[dict[str, Any]]:
        # Up to now: a service observes a request's latency only after its last byte went out.
        end = time.time()
        latency = prometheus.exemplars(f'ragplane_http_request_duration_seconds_bucket{{route="{SEARCH}"}}', start, end)
        searches = prometheus.exemplars("ragplane_vector_search_duration_seconds_bucket", start, end)
        both = {e["series"]["service"] for e in latency} == {"gateway", "query"}
        return latency + searches if both and searches else []

    exemplars = until(scraped, timeout=60)
    for exemplar in exemplars:
        assert set(exemplar["labels"]) == {"trace_id"} and len(exemplar["labels"]["trace_id"]) == 32
        assert float(exemplar["value"]) <= float(exemplar["series"]["le"])  # on the bucket its value falls in

    def logged(exemplar: dict[str, Any]) -> bool:
        series, trace_id = exemplar["series"], exemplar["labels"]["trace_id"]
        if series["__name__"] != "ragplane_http_request_duration_seconds_bucket":
            return bool(json_logs.records(event="request", service="query", route=SEARCH, trace_id=trace_id))
        records = json_logs.records(event="request", service=series["service"], route=SEARCH, trace_id=trace_id)
        return [r["duration_ms"] for r in records] == [round(float(exemplar["value"]) * 1000, 2)]

    until(lambda: all(logged(e) for e in exemplars), timeout=30)  # logged once the last body byte is sent

    def traced(exemplar: dict[str, Any]) -> bool:
        spans = exported(otlp).get(exemplar["labels"]["trace_id"], set())
        if exemplar["series"]["__name__"] != "ragplane_http_request_duration_seconds_bucket":
            return ("query", "vector_search") in spans
        return (exemplar["series"]["service"], f"GET {SEARCH}") in spans

    until(lambda: all(traced(e) for e in exemplars), timeout=60)  # spans are exported in batches
