"""Collections CRUD and ingestion over real HTTP, with real Qdrant local mode and the real embedder."""

import json
from pathlib import Path

import pytest

from tests.running import RunningStack, ingest, long_text, wait_for_job

API = "/api/v1/rag"


@pytest.fixture(params=["json", "postgres"])
def stack(request: pytest.FixtureRequest, stack: RunningStack) -> RunningStack:
    """Every test here runs against both registries: the JSON file and PostgreSQL."""
    return stack if request.param == "json" else request.getfixturevalue("pg_stack")


def create(client, name, **body):
    return client.post(f"{API}/collections", json={"name": name, **body})


def test_create_returns_the_collection_and_its_location(gateway, unique) -> None:
    name = unique("c")
    r = create(gateway, name, description="notes", chunk_size=400, chunk_overlap=50)
    assert r.status_code == 201
    assert r.headers["location"] == f"{API}/collections/{name}"
    body = r.json()
    assert body["name"] == name and body["description"] == "notes"
    assert (body["chunk_size"], body["chunk_overlap"]) == (400, 50)
    assert body["embedder"] == "local:all-MiniLM-L6-v2" and body["dimension"] == 384
    assert body["documents"] == 0 and body["created_at"].endswith("Z")
    assert gateway.get(r.headers["location"]).json() == body


def test_creating_an_existing_collection_is_a_conflict(gateway, unique) -> None:
    name = unique("c")
    assert create(gateway, name).status_code == 201
    r = create(gateway, name)
    assert r.status_code == 409
    assert r.json()["type"] == "urn:ragplane:problem:conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Upper"}, "name"),
        ({"name": "-dash"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({}, "name"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "chunk_size": 10}, "chunk_size"),
        ({"name": "ok", "chunk_size": 400, "chunk_overlap": 300}, "chunk_overlap"),
        ({"name": "ok", "description": 5}, "description"),
    ],
)
def test_invalid_collections_are_refused(gateway, body, field) -> None:
    r = gateway.post(f"{API}/collections", json=body)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_list_shows_counts(gateway, unique) -> None:
    name = unique("c")
    ingest(gateway, name, [{"id": "a", "text": "alpha beta"}, {"id": "b", "text": "gamma delta"}])
    listed = {c["name"]: c for c in gateway.get(f"{API}/collections").json()["collections"]}
    assert listed[name]["documents"] == 2 and listed[name]["chunks"] == 2


def test_missing_collections_are_404_everywhere(gateway) -> None:
    for method, path in [
        ("GET", "/collections/nope"),
        ("DELETE", "/collections/nope"),
        ("GET", "/collections/nope/stats"),
        ("GET", "/collections/nope/documents"),
        ("POST", "/collections/nope/documents"),
        ("GET", "/jobs/nope"),
    ]:
        r = gateway.request(method, API + path, json={"documents": [{"text": "x"}]} if method == "POST" else None)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"


def test_delete_removes_the_collection_and_its_vectors(gateway, stack, unique) -> None:
    name = unique("c")
    ingest(gateway, name, [{"id": "a", "text": "to be deleted"}])
    assert gateway.delete(f"{API}/collections/{name}").status_code == 204
    assert gateway.get(f"{API}/collections/{name}").status_code == 404
    assert gateway.get(f"{API}/search", params={"query": "deleted", "collection": name}).status_code == 404
    assert not stack.call(stack.stack.store.collection_exists(name))
    # the name can be used again
    assert create(gateway, name).status_code == 201


def test_ingestion_job_reports_progress_and_stats_match(gateway, unique) -> None:
    name = unique("c")
    text = "# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n" + "Words here. " * 60 for i in range(4))
    job = ingest(gateway, name, [{"id": "guide", "text": text, "source": "wiki", "metadata": {"team": "sre"}}])
    assert job["state"] == "completed" and job["error"] is None
    assert job["documents"] == {"total": 1, "ingested": 1, "skipped": 0, "failed": 0}
    assert job["chunks"] >= 4
    assert job["started_at"] and job["finished_at"]
    stats = gateway.get(f"{API}/collections/{name}/stats").json()
    assert stats["documents"] == 1
    assert stats["chunks"] == stats["vectors"] == job["chunks"]
    assert stats["disk_bytes"] > 0 and stats["text_bytes"] == len(text.encode())
    assert stats["embedder"] == "local:all-MiniLM-L6-v2" and stats["last_ingested_at"]
    [doc] = gateway.get(f"{API}/collections/{name}/documents").json()["documents"]
    assert (doc["id"], doc["title"], doc["source"], doc["chunks"]) == ("guide", "Guide", "wiki", job["chunks"])


def test_reingesting_unchanged_documents_skips_them(gateway, unique) -> None:
    name = unique("c")
    docs = [{"id": "a", "text": "first document"}, {"id": "b", "text": "second document"}]
    ingest(gateway, name, docs)
    job = ingest(gateway, name, docs, create=False)
    assert job["documents"] == {"total": 2, "ingested": 0, "skipped": 2, "failed": 0}
    assert gateway.get(f"{API}/collections/{name}/stats").json()["vectors"] == 2


def test_a_changed_document_replaces_its_old_chunks(gateway, unique) -> None:
    name = unique("c")
    ingest(gateway, name, [{"id": "a", "text": "The old text talks about volcanoes."}])
    job = ingest(gateway, name, [{"id": "a", "text": "The new text talks about glaciers."}], create=False)
    assert job["documents"]["ingested"] == 1
    hits = gateway.get(f"{API}/search", params={"query": "volcano", "collection": name}).json()["results"]
    assert [h["text"] for h in hits] == ["The new text talks about glaciers."]


def test_multipart_files_are_ingested(gateway, unique, tmp_path: Path) -> None:
    name = unique("c")
    assert create(gateway, name).status_code == 201
    files = [
        ("files", ("guide.md", b"# Upload guide\n\nFiles can be uploaded as multipart.", "text/markdown")),
        ("files", ("notes.txt", b"Plain notes.", "text/plain")),
    ]
    r = gateway.post(f"{API}/collections/{name}/documents", files=files)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"{API}/jobs/{r.json()['id']}"
    job = wait_for_job(gateway, r.json()["id"])
    assert job["documents"]["ingested"] == 2
    ids = [d["id"] for d in gateway.get(f"{API}/collections/{name}/documents").json()["documents"]]
    assert ids == ["guide.md", "notes.txt"]


def test_unsupported_uploads_are_refused(gateway, unique) -> None:
    name = unique("c")
    create(gateway, name)
    png = gateway.post(f"{API}/collections/{name}/documents", files={"f": ("a.png", b"\x89PNG", "image/png")})
    assert png.status_code == 415
    xml = gateway.post(
        f"{API}/collections/{name}/documents", content=b"<a/>", headers={"content-type": "application/xml"}
    )
    assert xml.status_code == 415
    empty = gateway.post(f"{API}/collections/{name}/documents", json={"documents": []})
    assert empty.status_code == 422


def test_oversized_uploads_are_refused_and_change_nothing(make_settings, unique) -> None:
    settings = make_settings(MAX_UPLOAD_BYTES="2000")
    small = RunningStack(settings, services=("collections",)).start()
    try:
        with small.client("collections", token=True) as client:
            name = unique("c")
            ingest(client, name, [{"id": "keep", "text": "kept"}])
            big = json.dumps({"documents": [{"text": "x" * 5000}]})
            r = client.post(
                f"{API}/collections/{name}/documents", content=big, headers={"content-type": "application/json"}
            )
            assert r.status_code == 413
            assert "limit" in r.json()["detail"]
            assert client.get(f"{API}/collections/{name}/stats").json()["documents"] == 1
    finally:
        small.stop()


def test_jobs_survive_a_restart_and_interrupted_ones_are_marked(make_settings, unique) -> None:
    settings = make_settings()
    first = RunningStack(settings, services=("collections",)).start()
    with first.client("collections", token=True) as client:
        name = unique("c")
        done = ingest(client, name, [{"id": "a", "text": "persisted"}])
    first.stop()
    registry = settings.registry_path
    data = json.loads(registry.read_text())
    data["jobs"]["stale"] = {**data["jobs"][done["id"]], "id": "stale", "state": "running"}
    registry.write_text(json.dumps(data))
    second = RunningStack(settings, services=("collections",)).start()
    try:
        with second.client("collections", token=True) as client:
            assert client.get(f"{API}/jobs/{done['id']}").json()["state"] == "completed"
            stale = client.get(f"{API}/jobs/stale").json()
            assert stale["state"] == "failed" and "interrupted" in stale["error"]
            assert client.get(f"{API}/collections/{name}/stats").json()["vectors"] == 1
    finally:
        second.stop()


def test_ingestion_metrics_are_counted(gateway, stack, unique) -> None:
    name = unique("c")
    ingest(gateway, name, [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}])
    ingest(gateway, name, [{"id": "a", "text": "one"}], create=False)
    registry = stack.stack.apps["collections"].state.spec.metrics.registry
    value = registry.get_sample_value
    assert value("ragplane_ingestion_documents_total", {"collection": name, "result": "ingested"}) == 2
    assert value("ragplane_ingestion_documents_total", {"collection": name, "result": "skipped"}) == 1
    assert value("ragplane_collection_documents", {"collection": name}) == 2
    assert value("ragplane_collection_vectors", {"collection": name}) == 2
    gateway.delete(f"{API}/collections/{name}")
    assert value("ragplane_collection_vectors", {"collection": name}) is None


def big_document(chunks: int) -> dict:
    return {"id": "big", "text": long_text(chunks)}


def test_concurrent_creates_give_one_201_and_409s(stack: RunningStack, unique) -> None:
    from concurrent.futures import ThreadPoolExecutor

    name = unique("race")

    def attempt(_: int) -> int:
        with stack.client() as client:
            return create(client, name).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))
    assert statuses == [201, 409, 409, 409, 409, 409]


def test_deleting_a_collection_cancels_its_running_job(gateway, stack, unique) -> None:
    name = unique("c")
    assert create(gateway, name).status_code == 201
    accepted = gateway.post(f"{API}/collections/{name}/documents", json={"documents": [big_document(300)]})
    assert accepted.status_code == 202
    assert gateway.delete(f"{API}/collections/{name}").status_code == 204
    job = gateway.get(f"{API}/jobs/{accepted.json()['id']}").json()
    assert job["state"] == "failed" and job["error"].endswith("the collection was deleted")
    failures = stack.stack.apps["collections"].state.spec.metrics.registry.get_sample_value
    assert failures("ragplane_ingestion_failures_total", {"collection": name, "reason": "deleted"}) == 1
    assert create(gateway, name).status_code == 201
    assert gateway.get(f"{API}/collections/{name}/stats").json()["vectors"] == 0


def test_a_full_job_queue_answers_503(make_settings, unique) -> None:
    backend = RunningStack(make_settings(INGEST_MAX_JOBS="1", INGEST_CONCURRENCY="1"), services=("collections",))
    backend.start()
    try:
        with backend.client("collections", token=True) as client:
            name = unique("c")
            assert create(client, name).status_code == 201
            first = client.post(f"{API}/collections/{name}/documents", json={"documents": [big_document(300)]})
            assert first.status_code == 202
            second = client.post(f"{API}/collections/{name}/documents", json={"documents": [{"text": "x"}]})
            assert second.status_code == 503
            assert second.headers["retry-after"] == "5"
            assert "already queued or running" in second.json()["detail"]
            assert client.delete(f"{API}/collections/{name}").status_code == 204  # cancels the first
    finally:
        backend.stop()


def test_an_empty_qdrant_collection_left_by_a_failed_create_is_adopted(stack: RunningStack, gateway, unique) -> None:
    name = unique("orphan")
    stack.call(stack.stack.store.create_collection(name, 384))

    assert create(gateway, name).status_code == 201
    assert ingest(gateway, name, [{"id": "a", "text": "adopted"}], create=False)["state"] == "completed"


def test_input_postgresql_cannot_store_is_refused_not_a_500(gateway, unique) -> None:
    name = unique("nul")
    assert create(gateway, name).status_code == 201
    nul = gateway.post(f"{API}/collections/{name}/documents", json={"documents": [{"text": "a\u0000b"}]})
    meta = gateway.post(
        f"{API}/collections/{name}/documents", json={"documents": [{"text": "ok", "metadata": {"k": ["\u0000"]}}]}
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "documents[0].text"
    assert meta.status_code == 422 and meta.json()["errors"][0]["field"] == "documents[0].metadata"
    for path in (f"{API}/collections/%00", f"{API}/collections/%00/documents", f"{API}/jobs/%00"):
        missing = gateway.get(path)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json", path
    assert gateway.get(f"{API}/jobs", params={"limit": "²"}).status_code == 422


def test_a_document_is_deleted_by_id_with_its_vectors(gateway, stack, unique) -> None:
    """Issue 18.1: a collection is fixed without dropping it; ids with slashes work through the gateway,
    encoded or not, and an id no URL path can carry (`..`) by the `id` query parameter."""
    name = unique("c")
    docs = [
        {"id": "notes/volcano.md", "text": "Volcanoes erupt molten rock."},
        {"id": "deep/sub/glacier.md", "text": "Glaciers carve valleys."},
        {"id": "../old/desert.md", "text": "Deserts get little rain."},
        {"id": "kept.md", "text": "Forests keep their trees."},
    ]
    ingest(gateway, name, docs)
    store = stack.stack.store
    before = stack.call(store.version(name))
    documents = f"{API}/collections/{name}/documents"

    encoded = gateway.delete(f"{documents}/notes%2Fvolcano.md")
    assert encoded.status_code == 204, encoded.text
    assert stack.call(store.version(name)) != before  # cached results that cite it now miss
    assert gateway.delete(f"{documents}/deep/sub/glacier.md").status_code == 204
    assert gateway.delete(documents, params={"id": "../old/desert.md"}).status_code == 204

    assert [d["id"] for d in gateway.get(documents).json()["documents"]] == ["kept.md"]
    stats = gateway.get(f"{API}/collections/{name}/stats").json()
    assert stats["documents"] == stats["chunks"] == stats["vectors"] == 1
    hits = gateway.get(f"{API}/search", params={"query": "volcano eruption", "collection": name}).json()["results"]
    assert [h["document_id"] for h in hits] == ["kept.md"]
    for response in (gateway.delete(f"{documents}/notes%2Fvolcano.md"), gateway.delete(documents)):
        assert response.status_code in (404, 422) and response.headers["content-type"] == "application/problem+json"
    missing = gateway.delete(f"{documents}/nope.md")
    assert missing.status_code == 404 and missing.json()["detail"] == f"Collection {name!r} has no document 'nope.md'."
    assert missing.json()["type"] == "urn:ragplane:problem:document-not-found"
    assert gateway.delete(f"{API}/collections/{unique('gone')}/documents/a.md").status_code == 404


def test_posting_to_a_missing_collection_says_how_to_create_it(gateway, unique) -> None:
    """Issue 18.13: the documented `curl -F` example 404s until the collection exists; the 404 says what to do."""
    name = unique("notes")
    r = gateway.post(f"{API}/collections/{name}/documents", files={"files": ("a.md", b"# A", "text/markdown")})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == (
        f"Collection {name!r} does not exist. Create it with POST /api/v1/rag/collections "
        f'{{"name": "{name}"}} or `ragplane ingest PATH --collection {name}`.'
    )
