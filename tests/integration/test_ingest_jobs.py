"""Ingestion jobs that run long, fail or are killed: progress as they go, and nothing half-ingested left searchable."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import stack_settings
from tests.running import RunningStack, ingest, long_text, until, wait_for_job

API = "/api/v1/rag"
RAGPLANE = Path(sys.executable).with_name("ragplane")
OLD = {"id": "guide", "text": "The old guide talks about volcanoes."}


def stats(client: httpx.Client, name: str) -> dict[str, Any]:
    return client.get(f"{API}/collections/{name}/stats").json()  # type: ignore[no-any-return]


def slow_embedder(client: httpx.Client, latency_ms: int = 200) -> None:
    """Every embedding call of the service `client` talks to takes `latency_ms` longer: a long
    document's job (one call per 16 chunks) then runs for seconds, however fast the machine, and
    a test can act on it mid-way instead of racing it."""
    fault = {"seconds": 600, "mode": "delay", "latency_ms": latency_ms}
    assert client.post("/internal/faults/embedder", json=fault).status_code == 200


def clear_faults(client: httpx.Client, *dependencies: str) -> None:
    for dependency in dependencies:
        assert client.delete(f"/internal/faults/{dependency}").status_code in (204, 404)
        assert client.post(f"/internal/breakers/{dependency}/reset").status_code == 200


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, embedding_model: object) -> Iterator[RunningStack]:
    """A collections service of its own: these tests break its dependencies on purpose."""
    running = RunningStack(stack_settings(tmp_path_factory.mktemp("failing")), services=("collections",)).start()
    yield running
    running.stop()


def test_a_running_job_counts_its_chunks_as_it_goes(backend: RunningStack, unique) -> None:
    """Issue 18.5: not `running, chunks: 0` for minutes while its vectors are stored."""
    with backend.client("collections", token=True) as client:
        name = unique("progress")
        assert client.post(f"{API}/collections", json={"name": name}).status_code == 201
        slow_embedder(client)
        try:
            accepted = client.post(
                f"{API}/collections/{name}/documents", json={"documents": [{"text": long_text(600)}]}
            )
            job = until(lambda: (j := client.get(accepted.headers["location"]).json())["chunks"] > 0 and j)
            assert job["state"] == "running", job
            assert 0 < job["chunks"] < job["chunks_total"] and job["chunks_total"] >= 600
            assert client.delete(f"{API}/collections/{name}").status_code == 204  # cancels it
        finally:
            clear_faults(client, "embedder")


def test_a_document_is_not_deleted_while_a_job_of_its_collection_runs(backend: RunningStack, unique) -> None:
    """The job could commit the document again after its points went: 409 until the job ends, then 204."""
    with backend.client("collections", token=True) as client:
        name = unique("race")
        ingest(client, name, [OLD])
        guide = f"{API}/collections/{name}/documents/guide"
        slow_embedder(client)
        try:
            accepted = client.post(
                f"{API}/collections/{name}/documents", json={"documents": [{"id": "other", "text": long_text(200)}]}
            )
            refused = client.delete(guide)
            assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
            assert "has an ingestion job queued or running" in refused.json()["detail"]
        finally:
            clear_faults(client, "embedder")
        assert wait_for_job(client, accepted.json()["id"])["state"] == "completed"
        assert client.delete(guide).status_code == 204
        missing = client.delete(guide)
        assert missing.status_code == 404 and missing.json()["type"] == "urn:ragplane:problem:document-not-found"


def fail_midway(client: httpx.Client, name: str, dependency: str, *, clear: bool = True) -> dict[str, Any]:
    """Re-ingest `guide` as a long (slowed) document and make `dependency` fail once its points are
    being written; the faults are cleared at the end unless `clear` is false."""
    ingest(client, name, [OLD])
    slow_embedder(client)
    try:
        accepted = client.post(
            f"{API}/collections/{name}/documents", json={"documents": [{"id": "guide", "text": long_text(600)}]}
        )
        until(lambda: stats(client, name)["vectors"] > 1)  # the new version is being written
        assert client.post(f"/internal/faults/{dependency}", json={"seconds": 600}).status_code == 200
        return wait_for_job(client, accepted.json()["id"])
    finally:
        if clear:
            clear_faults(client, *{"embedder", dependency})


def assert_only_the_old_version(backend: RunningStack, client: httpx.Client, name: str) -> None:
    after = stats(client, name)
    assert (after["documents"], after["chunks"], after["vectors"]) == (1, 1, 1)
    [doc] = client.get(f"{API}/collections/{name}/documents").json()["documents"]
    assert doc["bytes"] == len(OLD["text"])
    assert [p["text"] for p in backend.call(collect_payloads(backend, name))] == [OLD["text"]]


def test_a_failed_reingest_leaves_the_previous_version_and_nothing_else(backend: RunningStack, unique) -> None:
    """Issue 18.4: a job that fails mid-document takes its points with it; the old version stays searchable."""
    with backend.client("collections", token=True) as client:
        name = unique("fail")
        job = fail_midway(client, name, "embedder")
        assert job["state"] == "failed" and "after 0 of 1 documents" in job["error"]
        assert_only_the_old_version(backend, client, name)


def test_points_a_failure_could_not_remove_go_before_the_next_job(backend: RunningStack, unique) -> None:
    """When Qdrant is why the job failed, its clean-up fails too: it is done again before the next job runs."""
    with backend.client("collections", token=True) as client:
        name = unique("qdrant")
        assert fail_midway(client, name, "qdrant")["state"] == "failed"
        assert stats(client, name)["vectors"] > 1  # left behind, for now
        ingest(client, unique("next"), [{"text": "Any next job."}])
        assert_only_the_old_version(backend, client, name)


def test_points_a_failure_could_not_remove_go_once_qdrant_answers_again(backend: RunningStack, unique) -> None:
    """No next job needed: the ingestor retries the clean-up by itself, and clears the job's flag."""
    assert backend.stack is not None
    ingestor = backend.stack.apps["collections"].state.ingestor
    with backend.client("collections", token=True) as client:
        name = unique("retry")
        job = fail_midway(client, name, "qdrant")
        assert backend.call(ingestor.registry.get_job(job["id"])).sweep_pending  # saved, should the process stop

        async def start() -> asyncio.Task[None]:
            return asyncio.create_task(ingestor.retry_sweeps(every_s=0.05))

        retrying = backend.call(start())
        try:
            until(lambda: not backend.call(ingestor.registry.get_job(job["id"])).sweep_pending)
        finally:
            backend.loop.call_soon_threadsafe(retrying.cancel)
        assert_only_the_old_version(backend, client, name)


def collect_payloads(backend: RunningStack, name: str) -> Any:
    async def collect() -> list[dict[str, Any]]:
        assert backend.stack is not None
        return [payload async for page in backend.stack.store.payload_pages(name) for _, payload in page]

    return collect()


class Collections:
    """`ragplane serve collections` as a real process that can be killed, on a free port."""

    def __init__(self, data: Path, secret: str) -> None:
        self.data = data
        self.log = data / f"stderr-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTER_SERVICE", "RAGPLANE_", "QDRANT"))}
        env.update(RAGPLANE_DATA_DIR=str(data), COLLECTIONS_PORT="0", INTER_SERVICE_SECRET=secret)
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [str(RAGPLANE), "--env-file", str(data / "none.env"), "serve", "collections"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        found = until(lambda: re.search(r"collections=(\S+)", self.log.read_text()) or self.process.poll())
        assert not isinstance(found, int), f"ragplane exited early:\n{self.log.read_text()}"
        self.url = found.group(1)
        self.client = httpx.Client(base_url=self.url, headers={"X-Service-Token": secret}, timeout=60)

    def kill(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[], Collections]]:
    secret = secrets.token_urlsafe(40)
    started: list[Collections] = []

    def start() -> Collections:
        started.append(Collections(tmp_path, secret))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.mark.subprocess
def test_a_killed_job_leaves_the_collection_as_it_was(serve: Callable[[], Collections], unique) -> None:
    """Issue 18.4: an upload stopped mid-way (the process killed) is not searchable after the restart."""
    first = serve()
    name = unique("killed")
    ingest(first.client, name, [OLD])
    before = stats(first.client, name)
    slow_embedder(first.client, latency_ms=100)
    accepted = first.client.post(
        f"{API}/collections/{name}/documents", json={"documents": [{"id": "guide", "text": long_text(1500)}]}
    )
    until(lambda: stats(first.client, name)["vectors"] > 1)  # half-way through the new version
    first.kill()

    second = serve()
    job = second.client.get(f"{API}/jobs/{accepted.json()['id']}").json()
    assert job["state"] == "failed" and "interrupted" in job["error"]
    after = stats(second.client, name)
    assert (
        (after["documents"], after["chunks"], after["vectors"])
        == (1, 1, 1)
        == (
            before["documents"],
            before["chunks"],
            before["vectors"],
        )
    )
    [doc] = second.client.get(f"{API}/collections/{name}/documents").json()["documents"]
    assert doc["bytes"] == len(OLD["text"])
    fresh = {"id": "new.md", "text": "A new document after the restart."}
    assert ingest(second.client, name, [fresh], create=False)["state"] == "completed"
    assert stats(second.client, name)["vectors"] == 2


@pytest.mark.subprocess
def test_a_clean_up_qdrant_refused_is_done_by_the_next_start(serve: Callable[[], Collections], unique) -> None:
    """A failed job whose points could not be removed (Qdrant failing too) is flagged in the
    registry, so a restart removes them even though the job is no longer unfinished."""
    first = serve()
    name = unique("flagged")
    job = fail_midway(first.client, name, "qdrant", clear=False)  # Qdrant keeps failing: no retry can succeed
    assert job["state"] == "failed"
    first.kill()
    saved = json.loads((first.data / "collections.json").read_text())["jobs"][job["id"]]
    assert saved["state"] == "failed" and saved["sweep_pending"] is True

    second = serve()
    assert stats(second.client, name)["vectors"] == 1
    [doc] = second.client.get(f"{API}/collections/{name}/documents").json()["documents"]
    assert doc["bytes"] == len(OLD["text"])
