"""Search over real HTTP: gateway → query service → real embedder and Qdrant local mode."""

import pytest

from tests.running import RunningStack, ingest

DOCS = [
    {
        "id": "breakers.md",
        "text": "# Circuit breakers\n\nA circuit breaker opens after five consecutive "
        "failures and rejects calls with a 503 until a probe succeeds.",
    },
    {"id": "pasta.md", "text": "# Cooking pasta\n\nBoil salted water, add the pasta and cook for nine minutes."},
    {
        "id": "tokens.md",
        "text": "# Service tokens\n\nServices authenticate each other with a shared secret "
        "sent in the X-Service-Token header.",
    },
]


@pytest.fixture(scope="module")
def small(stack: RunningStack) -> str:
    with stack.client() as client:
        job = ingest(client, "search-small", DOCS)
    assert job["state"] == "completed" and job["documents"]["ingested"] == 3
    return "search-small"


def test_the_most_relevant_document_comes_first(gateway, small) -> None:
    r = gateway.get("/api/v1/rag/search", params={"query": "when does the breaker open?", "collection": small})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "when does the breaker open?" and body["collection"] == small
    assert body["results"][0]["document_id"] == "breakers.md"
    assert body["results"][0]["title"] == "Circuit breakers"
    scores = [x["score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["took_ms"] > 0


def test_results_carry_text_and_position(gateway, small) -> None:
    [hit] = gateway.get("/api/v1/rag/search", params={"query": "pasta", "collection": small, "max_results": 1}).json()[
        "results"
    ]
    assert hit["document_id"] == "pasta.md"
    assert "nine minutes" in hit["text"]
    assert hit["section"] == "Cooking pasta" and hit["chunk_index"] == 0


@pytest.mark.parametrize(
    ("asked", "used", "count"), [("0", 1, 1), ("-4", 1, 1), ("2", 2, 2), ("500", 50, 3), (None, 5, 3)]
)
def test_max_results_is_clamped_and_echoed(gateway, small, asked, used, count) -> None:
    params = {"query": "secret", "collection": small}
    if asked is not None:
        params["max_results"] = asked
    body = gateway.get("/api/v1/rag/search", params=params).json()
    assert body["max_results"] == used
    assert len(body["results"]) == count


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"query": "   "}, "query"),
        ({}, "query"),
        ({"query": "x" * 1001}, "query"),
        ({"query": "ok", "max_results": "many"}, "max_results"),
        ({"query": "ok", "collection": "Not A Name"}, "collection"),
    ],
)
def test_invalid_searches_are_422_problems(gateway, params, field) -> None:
    r = gateway.get("/api/v1/rag/search", params=params)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == field


def test_query_of_exactly_1000_characters_is_accepted(gateway, small) -> None:
    r = gateway.get("/api/v1/rag/search", params={"query": "pasta " * 166 + "abcd", "collection": small})
    assert r.status_code == 200 and len(r.json()["query"]) == 1000


def test_unknown_collection_is_404(gateway) -> None:
    r = gateway.get("/api/v1/rag/search", params={"query": "x", "collection": "no-such-collection"})
    assert r.status_code == 404
    assert r.json()["detail"] == "Collection 'no-such-collection' does not exist."


def test_the_default_collection_is_docs(gateway, demo_corpus) -> None:
    body = gateway.get("/api/v1/rag/search", params={"query": "inter-service token"}).json()
    assert body["collection"] == "docs" and body["results"]


def test_demo_corpus_answers_about_circuit_breakers(gateway, demo_corpus) -> None:
    body = gateway.get("/api/v1/rag/search", params={"query": "circuit breaker", "collection": "docs"}).json()
    assert any("breaker" in r["text"].lower() for r in body["results"][:3])


def test_repeated_queries_use_the_embedding_cache(stack, query, small) -> None:
    params = {"query": "a question asked twice", "collection": small}
    registry = stack.stack.apps["query"].state.spec.metrics.registry

    def embeddings() -> float:
        labels = {"embedder": "local:all-MiniLM-L6-v2"}
        return registry.get_sample_value("ragplane_embedding_duration_seconds_count", labels) or 0

    query.get("/api/v1/rag/search", params=params)
    before = embeddings()
    assert query.get("/api/v1/rag/search", params=params).status_code == 200
    assert embeddings() == before
