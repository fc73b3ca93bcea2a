"""The stack with OLLAMA_URL set: answers come from Ollama (a fake HTTP server: Ollama cannot run
here), embeddings from the real model. The Ollama embedder itself is tested at its HTTP boundary
in tests/unit/adapters/test_ollama.py."""

from collections.abc import Iterator

import pytest

from tests.fakes.ollama import FakeOllama
from tests.running import RunningStack, ingest


@pytest.fixture
def ollama_stack(make_settings) -> Iterator[tuple[RunningStack, FakeOllama]]:
    with FakeOllama() as fake:
        running = RunningStack(make_settings(OLLAMA_URL=fake.url, EMBEDDER="local")).start()
        try:
            yield running, fake
        finally:
            running.stop()


def test_answers_come_from_ollama_and_passages_from_the_model(ollama_stack) -> None:
    stack, fake = ollama_stack
    with stack.client() as client:
        collection = client.post("/api/v1/rag/collections", json={"name": "ollama-docs"}).json()
        assert collection["embedder"].startswith("local:")
        ingest(client, "ollama-docs", [{"id": "a", "text": "The breaker opens after five failures."}], create=False)
        hits = client.get("/api/v1/rag/search", params={"query": "breaker failures", "collection": "ollama-docs"})
        assert hits.json()["results"][0]["document_id"] == "a"
        answer = client.post("/api/v1/rag/query", json={"query": "When?", "collection": "ollama-docs"}).json()
    assert answer["answerer"] == "ollama:llama3.2"
    assert answer["citations"] == [{"text": "The breaker opens after five failures.", "sources": [1]}]
    paths = [path for path, _ in fake.requests]
    assert "/api/generate" in paths and "/api/embed" not in paths


def test_an_ingestion_job_fails_clearly_when_the_embedder_is_down(ollama_stack) -> None:
    stack, _ = ollama_stack
    with stack.client() as client, stack.client("collections", token=True) as collections:
        assert client.post("/api/v1/rag/collections", json={"name": "down"}).status_code == 201
        fault = collections.post("/internal/faults/embedder", json={"mode": "error", "seconds": 60})
        assert fault.status_code == 200
        job = ingest(client, "down", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}], create=False)
    assert job["state"] == "failed"
    assert job["documents"] == {"total": 2, "ingested": 0, "skipped": 0, "failed": 2}
    assert job["error"].startswith("failed after 0 of 2 documents: embedder:")
