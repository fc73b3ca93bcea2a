"""The truth check: a real Prometheus scrapes the embedded stack under a short mixed load.

Everything generated from the catalogue must hold against live data: every catalogue
metric is exported, every dashboard query and every rule expression evaluates, and the
panels of the Overview and Query Performance dashboards show data. The stack runs with
PostgreSQL (query logs, registry backend) and Redis (caches, rate limits), as in production.
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

import httpx
import pytest

import dashboards
from ragplane.ops.ingest import IngestClient, Source, run
from ragplane.services.gateway.auth import issue_token
from ragplane.telemetry.catalog import CATALOG, Kind
from tests.integration.conftest import stack_settings
from tests.promstack import Prometheus, rules
from tests.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]
MUST_SHOW_DATA = ("ragplane-overview", "ragplane-query-performance")


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, embedding_model: object, session_database: str
) -> Iterator[tuple[RunningStack, Prometheus]]:
    tmp = tmp_path_factory.mktemp("truth")
    settings = stack_settings(
        tmp / "data",
        DATABASE_URL=session_database,
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_KEY_PREFIX=f"truth-{uuid.uuid4().hex[:8]}:",
        JWT_SECRET=secrets.token_urlsafe(40),
        RATE_LIMIT_PLANS="free:1000000,pro:1000000,trial:2",
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
    collection = f"truth-{uuid.uuid4().hex[:8]}"

    async def seed() -> None:
        async with IngestClient(stack.urls["collections"], service_token=stack.settings.inter_service_secret) as client:
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
