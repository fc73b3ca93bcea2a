"""The query log end to end: searches and answers through the gateway land in PostgreSQL's query_logs.

Each test runs its own stack with DATABASE_URL pointing, through a TCP proxy the test can
cut (tests/proxy.py), at a fresh migrated database. The collections service uses the same
database for its registry; nothing here depends on whether it does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ragplane.adapters.querylog import query_hash
from tests.pg import fetch, temporary_database
from tests.proxy import Proxy, proxy_to
from tests.running import RunningStack, ingest, until

DOCS = [
    {"id": "breakers", "text": "A circuit breaker opens after repeated failures and probes again later."},
    {"id": "glaciers", "text": "Glaciers move slowly down valleys, carving them as they go."},
]


@pytest.fixture
def database() -> Iterator[tuple[str, Proxy]]:
    """A migrated database and a proxy in front of it."""
    with temporary_database() as url, proxy_to() as proxy:
        yield url, proxy


def start_stack(make_settings: Callable[..., Any], url: str, proxy: Proxy, **env: str) -> RunningStack:
    database = url.rsplit("/", 1)[1]
    settings = make_settings(DATABASE_URL=proxy.url(database), QUERY_LOG_FLUSH_S="0.1", DATABASE_TIMEOUT_S="2", **env)
    return RunningStack(settings).start()


def rows(url: str) -> list[dict[str, Any]]:
    return [dict(r) for r in asyncio.run(fetch(url, "SELECT * FROM query_logs ORDER BY time"))]


def query_metric(stack: RunningStack, name: str) -> float:
    with stack.client("query") as client:
        text = client.get("/metrics").text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is not exported"
    return float(found.group(1))


def log_health(query: httpx.Client, status: str) -> dict[str, Any] | None:
    """The query service's /health once its query log shows `status`, else None."""
    health: dict[str, Any] = query.get("/health").json()
    return health if health["dependencies"]["query_log"]["status"] == status else None


def test_on_a_new_database_the_query_service_makes_its_own_table(make_settings, unique) -> None:
    """No `ragplane migrate` first: each service migrates the tables it owns as it starts."""
    with temporary_database(migrated=False) as url, proxy_to() as proxy:
        stack = start_stack(make_settings, url, proxy)
        try:
            name = unique("qlog")
            with stack.client() as client:
                ingest(client, name, DOCS)
                search = {"query": "How do glaciers move?", "collection": name}
                assert client.get("/api/v1/rag/search", params=search).status_code == 200
            until(lambda: query_metric(stack, "ragplane_query_log_written_total") == 1, timeout=30)
        finally:
            stack.stop()
        history = asyncio.run(fetch(url, "SELECT version FROM query_schema_migrations"))
        assert [r["version"] for r in history] == [1]
        assert [r["collection"] for r in rows(url)] == [name]


def test_searches_and_answers_are_logged(make_settings, unique, database) -> None:
    url, proxy = database
    stack = start_stack(make_settings, url, proxy)
    try:
        name = unique("qlog")
        with stack.client() as client:
            ingest(client, name, DOCS)
            search = {"query": "How do  circuit breakers work?", "collection": name, "max_results": 2}
            assert client.get("/api/v1/rag/search", params=search).status_code == 200
            assert client.get("/api/v1/rag/search", params=search).json()["cached"] is True
            answer = client.post("/api/v1/rag/query", json={"query": "How do glaciers move?", "collection": name})
            assert answer.status_code == 200
            missing = client.get("/api/v1/rag/search", params={"query": "anything", "collection": unique("none")})
            assert missing.status_code == 404
            assert client.get("/api/v1/rag/search", params={"query": " ", "collection": name}).status_code == 422
        until(lambda: query_metric(stack, "ragplane_query_log_written_total") == 4, timeout=30)
        logged = rows(url)
        with stack.client("query") as query:
            assert log_health(query, "up")
    finally:
        stack.stop()

    assert len(rows(url)) == 4, "the refused (422) request is not logged"
    first, cached, qa, lost = logged
    expected = query_hash("how do circuit breakers work?")
    assert first | {"time": None, "latency_s": None, "trace_id": None} == {
        "time": None,
        "collection": name,
        "kind": "search",
        "query_hash": expected,
        "query_text": "How do  circuit breakers work?",
        "results": 2,
        "latency_s": None,
        "cache_hit": False,
        "degraded": False,
        "status": 200,
        "trace_id": None,
    }
    assert (cached["cache_hit"], cached["query_hash"], cached["results"]) == (True, expected, 2)
    assert (qa["kind"], qa["query_text"], qa["status"], qa["cache_hit"], qa["degraded"]) == (
        "query", "How do glaciers move?", 200, False, answer.json()["degraded"],
    )  # fmt: skip
    assert qa["results"] == len(answer.json()["sources"]) > 0
    assert (lost["status"], lost["results"], lost["kind"]) == (404, 0, "search")
    traced = {format(s.context.trace_id, "032x") for s in stack.spans.get_finished_spans()}
    for row in logged:
        assert row["latency_s"] > 0
        assert re.fullmatch(r"[0-9a-f]{32}", row["trace_id"]) and row["trace_id"] in traced


def test_an_unreachable_log_database_never_fails_a_search(make_settings, unique, database) -> None:
    url, proxy = database
    stack = start_stack(make_settings, url, proxy, QUERY_LOG_BUFFER="3")
    try:
        name = unique("qlog")
        with stack.client() as client, stack.client("query") as query:
            ingest(client, name, DOCS)
            assert client.get("/api/v1/rag/search", params={"query": "warm up", "collection": name}).status_code == 200
            until(lambda: len(rows(url)) == 1, timeout=30)  # the writer is idle and connected

            proxy.cut()
            for i in range(5):
                response = client.get("/api/v1/rag/search", params={"query": f"breakers {i}", "collection": name})
                assert response.status_code == 200, response.text
            # 5 entries into a buffer of 3: the 2 oldest are dropped, the newest 3 wait.
            until(lambda: query_metric(stack, "ragplane_query_log_dropped_total") == 2, timeout=30)
            assert query_metric(stack, "ragplane_query_log_buffered_entries") == 3
            health = until(lambda: log_health(query, "down"), timeout=30)
            assert health["status"] == "degraded"
            assert health["dependencies"]["query_log"] | {"error": None} == {
                "status": "down", "buffered": 3, "capacity": 3, "written": 1, "dropped": 2, "error": None,
            }  # fmt: skip
            assert query.get("/health/ready").status_code == 200, "search works without its log"

            proxy.restore()
            until(lambda: log_health(query, "up"), timeout=30)  # the buffered entries were written
        assert query_metric(stack, "ragplane_query_log_written_total") == 4
        assert query_metric(stack, "ragplane_query_log_buffered_entries") == 0
    finally:
        stack.stop()
    assert [r["query_text"] for r in rows(url)] == ["warm up", "breakers 2", "breakers 3", "breakers 4"]


def test_without_a_database_there_is_no_query_log(make_settings) -> None:
    stack = RunningStack(make_settings(), services=("query",)).start()
    try:
        with stack.client("query") as query:
            assert query.get("/health").json()["dependencies"]["query_log"] == {"status": "disabled"}
        assert stack.stack is not None and stack.stack.apps["query"].state.query_log is None
    finally:
        stack.stop()


def activity_totals(client: httpx.Client) -> dict[str, Any]:
    body = client.get("/api/v1/rag/activity", params={"minutes": 5}).json()
    total = {key: sum(b[key] for b in body["buckets"]) for key in ("searches", "questions", "errors")}
    return {"source": body["source"], **total}


def test_activity_comes_from_the_query_logs_rollup(make_settings, unique, database) -> None:
    url, proxy = database
    stack = start_stack(make_settings, url, proxy, DATABASE_MAINTENANCE_S="0.2")
    try:
        name = unique("activity")
        with stack.client() as client:
            ingest(client, name, DOCS)
            for query in ("breakers", "glaciers"):
                assert client.get("/api/v1/rag/search", params={"query": query, "collection": name}).status_code == 200
            assert client.post("/api/v1/rag/query", json={"query": "glaciers?", "collection": name}).status_code == 200
            expected = {"source": "query_log", "searches": 2, "questions": 1, "errors": 0}
            until(lambda: activity_totals(client) == expected, timeout=30)
    finally:
        stack.stop()


def test_without_a_database_activity_is_the_replicas_own(make_settings, unique) -> None:
    stack = RunningStack(make_settings()).start()
    try:
        name = unique("activity")
        with stack.client() as client:
            ingest(client, name, DOCS)
            assert client.get("/api/v1/rag/search", params={"query": "breakers", "collection": name}).status_code == 200
            assert (
                client.get("/api/v1/rag/search", params={"query": "x", "collection": unique("none")}).status_code == 404
            )
            assert activity_totals(client) == {"source": "replica", "searches": 2, "questions": 0, "errors": 0}
    finally:
        stack.stop()
