"""The search and Q&A endpoints, ten cases each, with their dependencies stubbed at their adapter
protocols: an `Embedder` of bag-of-words vectors, an `Answerer` whose failure is chosen, and the
vector store over an `Engine` that can be made to fail (the embedded engine underneath)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.testclient import TestClient

from ragplane.adapters.answerers import Answer, Citation, Passage
from ragplane.adapters.embedded_store import EmbeddedEngine
from ragplane.adapters.gpu import GpuSlots
from ragplane.adapters.vectors import Point, VectorStore
from ragplane.errors import DependencyRejected, DependencyUnavailable
from ragplane.kit.service_auth import HEADER
from ragplane.lexical import document_vector
from ragplane.services.query.app import create_query_app
from tests.declared import check_responses
from tests.fakes.embedders import StubEmbedder, bag_of_words

DIMENSION = 32
SEARCH, QUERY = "/api/v1/rag/search", "/api/v1/rag/query"
PASSAGES = {
    "breakers.md": "A circuit breaker opens after five consecutive failures and probes again after ten seconds.",
    "plans.md": "The free plan allows one hundred requests per minute; the pro plan allows one thousand.",
    "backups.md": "Collections are backed up every night at two o'clock and kept for seven days.",
}


class StubLlm:
    """The `Answerer` protocol: cites the first passage, or fails as `failure` says."""

    name = "stub:llm"

    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def check(self) -> dict[str, Any]:
        return {"model": self.name}

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer:
        if self.failure is not None:
            raise self.failure
        first = passages[0]
        return Answer(f"{first.text} [1]", (Citation(first.text, (1,)),), self.name, grounded=True)


class FlakyEngine(EmbeddedEngine):
    """The embedded engine, whose searches fail while `down` (a Qdrant outage at the boundary)."""

    down = False

    def search(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise DependencyUnavailable("qdrant", "the stub is down", kind="unreachable")
        return super().search(*args, **kwargs)


class Parts:
    def __init__(self, tmp_path: Path) -> None:
        self.embedder = StubEmbedder(DIMENSION)
        self.llm = StubLlm()
        self.engine = FlakyEngine(tmp_path / "qdrant")
        self.store = VectorStore(engines=[self.engine])


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = Parts(tmp_path)

    async def fill() -> None:
        await made.store.open()
        await made.store.create_collection("docs", DIMENSION)
        points = [
            Point(
                f"00000000-0000-0000-0000-{i:012d}",
                bag_of_words(text, DIMENSION),
                {"document_id": doc, "title": doc, "text": text, "section": "", "chunk_index": 0, "source": doc},
                document_vector(text),
            )
            for i, (doc, text) in enumerate(PASSAGES.items())
        ]
        await made.store.upsert("docs", points)

    asyncio.run(fill())
    yield made
    asyncio.run(made.store.close())


@pytest.fixture
def client(parts: Parts, make_settings) -> Iterator[TestClient]:
    settings = make_settings(CIRCUIT_BREAKER_FAILURE_THRESHOLD="100")
    app = create_query_app(
        settings,
        embedder=parts.embedder,  # type: ignore[arg-type]
        store=parts.store,
        llm=parts.llm,
        slots=GpuSlots(2, 5.0),
        tracer_provider=TracerProvider(),
    )
    with TestClient(app, headers={HEADER: settings.service_token or ""}) as test_client:
        yield check_responses(test_client)  # every answer must be what its route declares


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


# --- search ------------------------------------------------------------------------------------


def test_search_ranks_the_passage_that_shares_the_query_words_first(client: TestClient) -> None:
    body = client.get(SEARCH, params={"query": "circuit breaker failures", "collection": "docs"}).json()
    assert body["results"][0]["document_id"] == "breakers.md"
    assert set(body["results"][0]) >= {"score", "document_id", "title", "text", "section", "chunk_index", "source"}
    assert body["query"] == "circuit breaker failures" and body["cached"] is False


def test_a_point_written_by_another_tool_without_title_or_text_reads_as_empty(client: TestClient, parts: Parts) -> None:
    bare = Point("00000000-0000-0000-0000-999999999999", bag_of_words("glacier ice", DIMENSION), {"document_id": "ice"})
    asyncio.run(parts.store.upsert("docs", [bare]))

    body = client.get(SEARCH, params={"query": "glacier ice", "collection": "docs", "max_results": 50}).json()

    found = next(r for r in body["results"] if r["document_id"] == "ice")
    assert (found["title"], found["text"], found["section"]) == ("", "", "")


def test_search_clamps_max_results_and_echoes_it(client: TestClient) -> None:
    assert len(client.get(SEARCH, params={"query": "plan", "max_results": "1"}).json()["results"]) == 1
    assert client.get(SEARCH, params={"query": "plan", "max_results": "500"}).json()["max_results"] == 50
    assert client.get(SEARCH, params={"query": "plan", "max_results": "0"}).json()["max_results"] == 1


def test_search_defaults_to_the_docs_collection(client: TestClient) -> None:
    assert client.get(SEARCH, params={"query": "backups"}).json()["collection"] == "docs"


def test_search_without_a_query_is_a_422_naming_it(client: TestClient) -> None:
    assert [e["field"] for e in is_problem(client.get(SEARCH), 422)["errors"]] == ["query"]


def test_search_of_whitespace_or_control_characters_is_refused(client: TestClient) -> None:
    is_problem(client.get(SEARCH, params={"query": "   "}), 422)
    is_problem(client.get(SEARCH, params={"query": "nul\x00byte"}), 422)


def test_search_with_a_max_results_that_is_no_integer_is_refused(client: TestClient) -> None:
    assert [
        e["field"] for e in is_problem(client.get(SEARCH, params={"query": "x", "max_results": "many"}), 422)["errors"]
    ] == ["max_results"]


def test_search_of_a_missing_collection_is_a_404_naming_it(client: TestClient) -> None:
    body = is_problem(client.get(SEARCH, params={"query": "x", "collection": "nope"}), 404)
    assert body["detail"] == "Collection 'nope' does not exist."


def test_search_with_a_name_that_is_no_collection_name_is_refused(client: TestClient) -> None:
    is_problem(client.get(SEARCH, params={"query": "x", "collection": "../etc"}), 422)


def test_search_with_the_embedder_down_is_a_503_naming_it(client: TestClient, parts: Parts) -> None:
    parts.embedder.down = True
    body = is_problem(client.get(SEARCH, params={"query": "a question never embedded"}), 503)
    assert body["dependency"] == "embedder"


def test_search_with_qdrant_down_is_a_503_naming_it_and_a_repeat_comes_from_the_cache(
    client: TestClient, parts: Parts
) -> None:
    first = client.get(SEARCH, params={"query": "night backups"}).json()
    parts.engine.down = True
    again = client.get(SEARCH, params={"query": "night backups"}).json()
    assert again["cached"] is True and again["results"] == first["results"]
    assert is_problem(client.get(SEARCH, params={"query": "something else"}), 503)["dependency"] == "qdrant"


# --- Q&A ---------------------------------------------------------------------------------------


def ask(client: TestClient, **body: Any) -> Any:
    return client.post(QUERY, json={"collection": "docs", **body})


def test_an_answer_cites_its_numbered_sources(client: TestClient) -> None:
    body = ask(client, query="When does a circuit breaker open?").json()
    assert body["answerer"] == "stub:llm" and body["degraded"] is False and body["grounded"] is True
    assert body["sources"][0]["id"] == 1 and body["sources"][0]["document_id"] == "breakers.md"
    assert body["citations"] == [{"text": PASSAGES["breakers.md"], "sources": [1]}]


def test_max_results_bounds_the_sources(client: TestClient) -> None:
    assert len(ask(client, query="plans and backups", max_results=2).json()["sources"]) == 2


def test_a_question_without_a_query_is_a_422(client: TestClient) -> None:
    assert [e["field"] for e in is_problem(ask(client), 422)["errors"]] == ["query"]


def test_a_question_over_1000_characters_is_refused(client: TestClient) -> None:
    is_problem(ask(client, query="why " * 300), 422)


def test_a_body_that_is_not_json_is_refused_clearly(client: TestClient) -> None:
    response = client.post(QUERY, content=b"query=breakers", headers={"content-type": "application/json"})
    assert response.status_code in (400, 422) and response.headers["content-type"] == "application/problem+json"


def test_a_question_about_a_missing_collection_is_a_404(client: TestClient) -> None:
    is_problem(ask(client, query="x", collection="nope"), 404)


def test_an_unavailable_llm_degrades_to_an_extractive_answer(client: TestClient, parts: Parts) -> None:
    parts.llm.failure = DependencyUnavailable("llm", "the stub is down", kind="unreachable")
    body = ask(client, query="How many requests does the free plan allow?").json()
    assert body["degraded"] is True and body["answerer"] == "extractive"
    assert "llm unavailable" in body["degraded_reason"] and "hundred" in body["answer"]


def test_an_llm_that_refuses_the_request_is_a_502_naming_it(client: TestClient, parts: Parts) -> None:
    """A refusal (a model never pulled, say) is a fault to fix, not an outage to ride out."""
    parts.llm.failure = DependencyRejected("llm", "HTTP 404: model not found")
    assert is_problem(ask(client, query="When are collections backed up?"), 502)["dependency"] == "llm"


def test_a_question_with_the_embedder_down_is_a_503(client: TestClient, parts: Parts) -> None:
    parts.embedder.down = True
    assert is_problem(ask(client, query="a question never asked"), 503)["dependency"] == "embedder"


def test_a_question_nothing_answers_is_said_so_without_citations(client: TestClient, parts: Parts) -> None:
    parts.llm.failure = DependencyUnavailable("llm", "off", kind="unreachable")  # the extractive judge of evidence
    body = ask(client, query="Xylophone quartz zebra?").json()
    assert body["grounded"] is False and body["citations"] == []
    assert body["answer"] == "The collection has no passage that answers this question."
