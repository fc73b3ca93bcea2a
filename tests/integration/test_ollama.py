"""The stack with OLLAMA_URL set: embeddings and answers come from (a fake) Ollama."""

from collections.abc import Iterator

import pytest

from tests.fakes.ollama import DIMENSION, FakeOllama
from tests.running import RunningStack, ingest


@pytest.fixture
def ollama_stack(make_settings) -> Iterator[tuple[RunningStack, FakeOllama]]:
    with FakeOllama() as fake:
        running = RunningStack(make_settings(OLLAMA_URL=fake.url)).start()
        try:
            yield running, fake
        finally:
            running.stop()


def test_search_and_answers_go_through_ollama(ollama_stack) -> None:
    stack, fake = ollama_stack
    with stack.client() as client:
        collection = client.post("/api/v1/rag/collections", json={"name": "ollama-docs"}).json()
        assert (collection["embedder"], collection["dimension"]) == ("ollama:nomic-embed-text", DIMENSION)
        ingest(client, "ollama-docs", [{"id": "a", "text": "The breaker opens after five failures."}], create=False)
        hits = client.get("/api/v1/rag/search", params={"query": "breaker failures", "collection": "ollama-docs"})
        assert hits.json()["results"][0]["document_id"] == "a"
        answer = client.post("/api/v1/rag/query", json={"query": "When?", "collection": "ollama-docs"}).json()
    assert answer["answerer"] == "ollama:llama3.2"
    assert answer["citations"] == [{"text": "The breaker opens after five failures.", "sources": [1]}]
    paths = [path for path, _ in fake.requests]
    assert "/api/embed" in paths and "/api/generate" in paths


def test_ollama_failures_are_503_problems_naming_the_dependency(ollama_stack) -> None:
    stack, fake = ollama_stack
    with stack.client() as client:
        client.post("/api/v1/rag/collections", json={"name": "flaky"})
        fake.fail_with = 500
        r = client.get("/api/v1/rag/search", params={"query": "anything new", "collection": "flaky"})
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "10"
        assert r.json()["dependency"] == "embedder"
        ready = client.get("/health/ready")
        assert ready.status_code == 200  # /api/tags still answers; only embedding calls fail
        fake.fail_with = None
        assert (
            client.get("/api/v1/rag/search", params={"query": "anything new", "collection": "flaky"}).status_code == 200
        )


def test_an_ingestion_job_fails_clearly_when_ollama_is_down(ollama_stack) -> None:
    stack, fake = ollama_stack
    with stack.client() as client:
        client.post("/api/v1/rag/collections", json={"name": "down"})
        fake.fail_with = 503
        job = ingest(client, "down", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}], create=False)
    assert job["state"] == "failed"
    assert job["documents"] == {"total": 2, "ingested": 0, "skipped": 0, "failed": 2}
    assert job["error"].startswith("failed after 0 of 2 documents: embedder:")
