"""The collections service on PostgreSQL: rows, the jobs API, and losing the database mid-run (seed 2.4.9-10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragplane.services.collections.models import CollectionRecord, JobRecord, JobState
from ragplane.services.collections.registry import Snapshot
from tests.integration.conftest import stack_settings
from tests.pg import fetch, temporary_database
from tests.proxy import Proxy, proxy_to
from tests.running import RunningStack, ingest, until, wait_for_job

API = "/api/v1/rag"
DOCS = [
    {"id": "alpha.md", "text": "# Alpha\n\nAlpha particles are helium nuclei."},
    {"id": "beta.md", "text": "# Beta\n\nBeta decay emits an electron."},
    {"id": "gamma.md", "text": "# Gamma\n\nGamma rays are photons of high energy."},
]


def rows(url: str, sql: str, *args: object) -> list[dict]:
    return [dict(r) for r in asyncio.run(fetch(url, sql, *args))]


def test_collections_documents_chunks_and_jobs_are_rows(pg_stack: RunningStack, session_database: str, unique) -> None:
    name = unique("pg")
    with pg_stack.client() as gateway:
        job = ingest(gateway, name, DOCS)
        assert job["state"] == "completed"
        again = ingest(gateway, name, DOCS, create=False)

    assert again["documents"]["skipped"] == 3
    docs = rows(session_database, "SELECT id, chunks FROM documents WHERE collection = $1 ORDER BY id", name)
    assert [d["id"] for d in docs] == ["alpha.md", "beta.md", "gamma.md"]
    chunks = rows(session_database, "SELECT document_id, text FROM chunks WHERE collection = $1", name)
    assert len(chunks) == sum(d["chunks"] for d in docs)  # re-ingesting added none
    jobs = rows(session_database, "SELECT id, state FROM ingestion_jobs WHERE collection = $1", name)
    assert {(j["id"], j["state"]) for j in jobs} == {(job["id"], "completed"), (again["id"], "completed")}


def test_jobs_are_listed_and_filtered(pg_stack: RunningStack, unique) -> None:
    name = unique("jobs")
    with pg_stack.client() as gateway:
        first = ingest(gateway, name, DOCS[:1])
        second = ingest(gateway, name, DOCS[1:], create=False)

        listed = gateway.get(f"{API}/jobs", params={"collection": name}).json()["jobs"]
        completed = gateway.get(f"{API}/jobs", params={"collection": name, "state": "completed", "limit": 1})
        failed = gateway.get(f"{API}/jobs", params={"collection": name, "state": "failed"})
        wrong = gateway.get(f"{API}/jobs", params={"state": "done", "limit": "0", "color": "red"})

    assert [j["id"] for j in listed] == [second["id"], first["id"]]
    assert [j["id"] for j in completed.json()["jobs"]] == [second["id"]]
    assert failed.json() == {"jobs": []}
    assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in wrong.json()["errors"]} == {"state", "limit", "color"}


def test_job_metrics(pg_stack: RunningStack, unique) -> None:
    with pg_stack.client() as gateway:
        ingest(gateway, unique("m"), DOCS[:1])
    value = pg_stack.stack.apps["collections"].state.spec.metrics.registry.get_sample_value
    # the gauge is recounted just after the job's end is recorded: wait for that recount
    until(lambda: value("ragplane_ingestion_jobs", {"state": "running"}) == 0, timeout=20)
    assert value("ragplane_ingestion_jobs", {"state": "completed"}) >= 1
    assert value("ragplane_ingestion_job_duration_seconds_count", {"state": "completed"}) >= 1
    assert value("ragplane_registry_backend", {"backend": "postgres"}) == 1


@pytest.fixture
def cut_stack(tmp_path: Path, embedding_model: object) -> Iterator[tuple[RunningStack, Proxy, str]]:
    """A stack whose PostgreSQL goes through a proxy the test can cut."""
    with temporary_database() as url, proxy_to() as proxy:
        database = url.rsplit("/", 1)[1]
        settings = stack_settings(
            tmp_path / "data", DATABASE_URL=proxy.url(database), DATABASE_RETRY_S="0.1", DATABASE_TIMEOUT_S="2"
        )
        running = RunningStack(settings).start()
        try:
            yield running, proxy, url
        finally:
            running.stop()


def registry_status(client: httpx.Client) -> str:
    return client.get("/health").json()["dependencies"]["registry"]["status"]


def test_with_the_database_down_search_and_reads_go_on_and_no_acknowledged_write_is_lost(
    cut_stack: tuple[RunningStack, Proxy, str],
) -> None:
    running, proxy, url = cut_stack
    acknowledged: list[str] = []
    with running.client() as gateway, running.client("collections", token=True) as collections:
        for name in ("before-a", "before-b"):
            job = ingest(gateway, name, DOCS)
            assert job["state"] == "completed"
            acknowledged.append(name)

        proxy.cut()

        search = gateway.get(f"{API}/search", params={"query": "helium nuclei", "collection": "before-a"})
        assert search.status_code == 200 and search.json()["results"][0]["document_id"] == "alpha.md"
        listed = gateway.get(f"{API}/collections")
        assert listed.status_code == 200
        assert sorted(c["name"] for c in listed.json()["collections"]) == acknowledged
        assert gateway.get(f"{API}/collections/before-a/documents").json()["documents"][0]["id"] == "alpha.md"
        assert registry_status(collections) == "degraded (json)"
        health = collections.get("/health").json()
        assert health["status"] == "degraded" and health["dependencies"]["registry"]["backend"] == "json"
        assert collections.get("/health/ready").status_code == 200  # reads still work: stay in rotation
        edge = gateway.get("/health").json()["dependencies"]["collections"]  # what the console shows
        assert edge["status"] == "up" and edge["degraded"] == {"registry": "degraded (json)"}

        refused = gateway.post(f"{API}/collections", json={"name": "during"})
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert "PostgreSQL is unavailable" in refused.json()["detail"]
        upload = gateway.post(f"{API}/collections/before-a/documents", json={"documents": [{"text": "new"}]})
        assert upload.status_code == 503
        deleted = gateway.delete(f"{API}/collections/before-a")
        assert deleted.status_code == 503  # refused before anything changed:
        again = gateway.get(f"{API}/search", params={"query": "helium nuclei", "collection": "before-a"})
        assert again.json()["results"]  # its vectors are still there

        proxy.restore()
        until(lambda: registry_status(collections) == "up", timeout=20)

        created = gateway.post(f"{API}/collections", json={"name": "after"})
        assert created.status_code == 201
        acknowledged.append("after")
        job = gateway.post(f"{API}/collections/after/documents", json={"documents": DOCS[:1]})
        assert wait_for_job(gateway, job.json()["id"])["state"] == "completed"

    names = [r["name"] for r in rows(url, "SELECT name FROM collections ORDER BY name")]
    assert names == sorted(acknowledged)  # every acknowledged write, and none of the refused ones
    counts = rows(url, "SELECT collection, count(*) AS n FROM documents GROUP BY 1 ORDER BY 1")
    assert counts == [
        {"collection": "after", "n": 1},
        {"collection": "before-a", "n": 3},
        {"collection": "before-b", "n": 3},
    ]
    metrics = running.stack.apps["collections"].state.spec.metrics.registry
    assert metrics.get_sample_value("ragplane_registry_fallback_total") == 1
    assert metrics.get_sample_value("ragplane_registry_backend", {"backend": "postgres"}) == 1


class GatedEmbedder:
    """The real embedder behind a gate the test opens: a job waits, running, until then."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        await self.gate.wait()
        return await self.inner.embed(texts)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_job_that_ends_while_the_database_is_down_is_recorded_when_it_returns(
    cut_stack: tuple[RunningStack, Proxy, str],
) -> None:
    running, proxy, url = cut_stack
    ingestor = running.stack.apps["collections"].state.ingestor

    async def gate() -> GatedEmbedder:
        ingestor.embedder = GatedEmbedder(ingestor.embedder)
        return ingestor.embedder

    gated = running.call(gate())
    with running.client() as gateway, running.client("collections", token=True) as collections:
        assert gateway.post(f"{API}/collections", json={"name": "busy"}).status_code == 201
        job_id = gateway.post(f"{API}/collections/busy/documents", json={"documents": DOCS}).json()["id"]
        until(lambda: gateway.get(f"{API}/jobs/{job_id}").json()["state"] == "running", timeout=20)

        proxy.cut()  # the job will not be able to record its documents, nor its end
        gateway.get(f"{API}/collections")  # a read notices the outage
        assert registry_status(collections) == "degraded (json)"
        running.loop.call_soon_threadsafe(gated.gate.set)
        running.call(ingestor.wait_idle())
        assert rows_or_none(url) == "running"  # the database still has the last state it was told

        proxy.restore()
        until(lambda: registry_status(collections) == "up", timeout=20)
        until(lambda: rows_or_none(url) == "failed", timeout=20)
        job = gateway.get(f"{API}/jobs/{job_id}").json()

    assert job["state"] == "failed" and "PostgreSQL is unavailable" in job["error"]
    failures = running.stack.apps["collections"].state.spec.metrics.registry.get_sample_value
    assert failures("ragplane_ingestion_failures_total", {"collection": "busy", "reason": "registry"}) == 1


def rows_or_none(url: str) -> str | None:
    found = rows(url, "SELECT state FROM ingestion_jobs")
    return found[0]["state"] if found else None


def test_the_service_starts_with_the_database_down_and_settles_on_its_return(
    tmp_path: Path, embedding_model: object
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stale = JobRecord(id="stale", collection="kept", state=JobState.RUNNING, started_at=1.0)
    snapshot = Snapshot({"kept": CollectionRecord("kept", "local", 384)}, {"kept": {}}, {"stale": stale})
    (data / "registry-snapshot.json").write_text(json.dumps(snapshot.to_json()))
    with temporary_database() as url, proxy_to() as proxy:
        proxy.cut()
        settings = stack_settings(data, DATABASE_URL=proxy.url(url.rsplit("/", 1)[1]), DATABASE_RETRY_S="0.1")
        running = RunningStack(settings, services=("collections",)).start()
        try:
            with running.client("collections", token=True) as client:
                assert registry_status(client) == "degraded (json)"
                assert [c["name"] for c in client.get(f"{API}/collections").json()["collections"]] == ["kept"]

                proxy.restore()
                until(lambda: registry_status(client) == "up", timeout=20)
                until(lambda: rows_or_none(url) == "failed", timeout=20)  # the interrupted job's end, kept until now

                assert client.get(f"{API}/collections").json()["collections"] == []  # the database is the record
                assert "interrupted" in client.get(f"{API}/jobs/stale").json()["error"]
        finally:
            running.stop()
