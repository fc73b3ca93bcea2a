"""Every collections, documents and jobs endpoint, answered by the real app over the embedded vector store
and the JSON registry, with a stub embedder; every response is checked against the schema its route declares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.testclient import TestClient

from ragplane.adapters.gpu import GpuSlots
from ragplane.adapters.vectors import VectorStore
from ragplane.kit.service_auth import HEADER
from ragplane.services.collections.app import create_collections_app
from ragplane.services.collections.schemas import ChunkDefaults
from tests.declared import check_responses
from tests.fakes.embedders import StubEmbedder

API = "/api/v1/rag"
DIMENSION = 16


@pytest.fixture
def client(tmp_path: Path, make_settings) -> Iterator[TestClient]:
    settings = make_settings()
    store = VectorStore(path=tmp_path / "qdrant")
    asyncio.run(store.open())
    app = create_collections_app(
        settings,
        embedder=StubEmbedder(DIMENSION),
        store=store,
        slots=GpuSlots(2, 5.0),
        tracer_provider=TracerProvider(),
    )
    with TestClient(app, headers={HEADER: settings.service_token or ""}) as test_client:
        yield check_responses(test_client)
    asyncio.run(store.close())


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def fields(response: Any) -> list[str]:
    return [e["field"] for e in problem(response, 422)["errors"]]


def finished(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (job := client.get(f"{API}/jobs/{job_id}").json())["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    return job


def ingest(client: TestClient, name: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = client.post(f"{API}/collections/{name}/documents", json={"documents": documents})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["location"] == f"{API}/jobs/{accepted.json()['id']}"
    return finished(client, accepted.json()["id"])


# --- collections -----------------------------------------------------------------------------------


def test_a_collection_is_created_listed_shown_and_deleted(client: TestClient) -> None:
    assert client.get(f"{API}/collections").json() == {"collections": []}
    created = client.post(f"{API}/collections", json={"name": "notes", "description": "mine", "chunk_size": 400})
    assert created.status_code == 201 and created.headers["location"] == f"{API}/collections/notes"
    body = created.json()
    assert (body["chunk_size"], body["chunk_overlap"], body["embedder"], body["dimension"]) == (
        400,
        120,
        "stub:bag-of-words",
        16,
    )
    assert body["created_at"].endswith("Z") and (body["documents"], body["chunks"]) == (0, 0)
    assert client.get(f"{API}/collections/notes").json() == body
    assert client.get(f"{API}/collections").json() == {"collections": [body]}
    assert client.delete(f"{API}/collections/notes").status_code == 204
    problem(client.get(f"{API}/collections/notes"), 404)


def test_the_services_chunk_sizes_apply_unless_given(client: TestClient) -> None:
    body = client.post(f"{API}/collections", json={"name": "small", "chunk_size": 200}).json()
    assert (body["chunk_size"], body["chunk_overlap"]) == (200, 100)
    body = client.post(f"{API}/collections", json={"name": "plain"}).json()
    assert (body["chunk_size"], body["chunk_overlap"]) == (800, 120) == astuple(ChunkDefaults())  # as documented


def test_creating_twice_is_a_conflict(client: TestClient) -> None:
    assert client.post(f"{API}/collections", json={"name": "twice"}).status_code == 201
    assert problem(client.post(f"{API}/collections", json={"name": "twice"}), 409)["type"].endswith(":conflict")


def test_invalid_collections_are_422s_naming_each_field(client: TestClient) -> None:
    response = client.post(f"{API}/collections", json={"name": "Bad", "colour": "red", "chunk_overlap": -1})
    assert fields(response) == ["colour", "name", "chunk_overlap"]
    assert problem(response, 422)["detail"].startswith("colour: is not a known field; name: 1-63 characters")


def test_bodies_that_are_not_json_objects_are_refused(client: TestClient) -> None:
    problem(client.post(f"{API}/collections", content=b"{", headers={"content-type": "application/json"}), 400)
    problem(client.post(f"{API}/collections", json=["notes"]), 400)
    problem(client.post(f"{API}/collections", content=b"name=x", headers={"content-type": "text/plain"}), 415)


# --- documents -------------------------------------------------------------------------------------


def test_documents_are_ingested_listed_counted_and_deleted(client: TestClient) -> None:
    client.post(f"{API}/collections", json={"name": "docs"})
    job = ingest(
        client,
        "docs",
        [
            {"id": "notes/a.md", "text": "# Alpha\n\nThe first document.", "metadata": {"team": "sre"}},
            {"id": "../b.md", "title": "Beta", "text": "The second document.", "source": "wiki"},
            {"text": "A document without an id."},
        ],
    )
    assert job["state"] == "completed" and job["documents"] == {"total": 3, "ingested": 3, "skipped": 0, "failed": 0}
    listed = client.get(f"{API}/collections/docs/documents").json()
    assert listed["collection"] == "docs"
    assert [(d["id"], d["title"]) for d in listed["documents"]][:2] == [("../b.md", "Beta"), ("notes/a.md", "Alpha")]
    stats = client.get(f"{API}/collections/docs/stats").json()
    assert (stats["documents"], stats["chunks"], stats["vectors"], stats["embedder"]) == (3, 3, 3, "stub:bag-of-words")
    assert client.delete(f"{API}/collections/docs/documents/notes%2Fa.md").status_code == 204
    assert client.delete(f"{API}/collections/docs/documents", params={"id": "../b.md"}).status_code == 204
    assert problem(client.delete(f"{API}/collections/docs/documents/notes/a.md"), 404)["type"].endswith(
        ":document-not-found"
    )
    assert fields(client.delete(f"{API}/collections/docs/documents")) == ["id"]
    assert client.get(f"{API}/collections/docs").json()["documents"] == 1


def test_files_are_ingested_from_a_multipart_form(client: TestClient) -> None:
    client.post(f"{API}/collections", json={"name": "files"})
    accepted = client.post(
        f"{API}/collections/files/documents",
        files=[
            ("files", ("guide.md", b"# Guide\n\nUpload me.", "text/markdown")),
            ("f", ("n.txt", b"Notes.", "text/plain")),
        ],
    )
    assert accepted.status_code == 202, accepted.text
    assert finished(client, accepted.json()["id"])["documents"]["ingested"] == 2
    problem(client.post(f"{API}/collections/files/documents", files={"f": ("a.png", b"\x89PNG", "image/png")}), 415)


def test_invalid_documents_are_422s_naming_each_one(client: TestClient) -> None:
    client.post(f"{API}/collections", json={"name": "strict"})
    documents = f"{API}/collections/strict/documents"
    assert fields(client.post(documents, json={"documents": []})) == ["documents"]
    bad = [{"text": "ok", "id": "x"}, {"text": ""}, "text", {"text": "a\u0000b"}, {"text": "y", "metadata": []}]
    assert fields(client.post(documents, json={"documents": bad})) == [
        "documents[1].text",
        "documents[2]",
        "documents[3].text",
        "documents[4].metadata",
    ]
    assert fields(client.post(documents, json={"documents": [{"text": "a", "id": "d"}, {"text": "b", "id": "d"}]})) == [
        "d"
    ]
    problem(client.post(documents, content=b"<a/>", headers={"content-type": "application/xml"}), 415)


def test_documents_for_a_missing_collection_say_how_to_create_it(client: TestClient) -> None:
    body = problem(client.post(f"{API}/collections/absent/documents", json={"documents": [{"text": "x"}]}), 404)
    assert "Create it with POST /api/v1/rag/collections" in body["detail"]


# --- jobs ------------------------------------------------------------------------------------------


def test_jobs_are_listed_filtered_and_shown(client: TestClient) -> None:
    client.post(f"{API}/collections", json={"name": "jobs"})
    job = ingest(client, "jobs", [{"id": "a", "text": "One document."}])
    assert job["links"] == {"self": f"{API}/jobs/{job['id']}"} and job["finished_at"]
    assert [j["id"] for j in client.get(f"{API}/jobs").json()["jobs"]] == [job["id"]]
    assert client.get(f"{API}/jobs", params={"state": "completed", "collection": "jobs", "limit": "1"}).json()["jobs"]
    assert client.get(f"{API}/jobs", params={"state": "running", "collection": ""}).json() == {"jobs": []}
    assert client.get(f"{API}/jobs/{job['id']}").json() == job
    problem(client.get(f"{API}/jobs/nope"), 404)


def test_invalid_job_filters_are_422s(client: TestClient) -> None:
    response = client.get(f"{API}/jobs", params={"state": "done", "limit": "0", "sort": "asc"})
    assert fields(response) == ["sort", "state", "limit"]
    assert problem(response, 422)["errors"][0]["message"] == "is not a known filter"
