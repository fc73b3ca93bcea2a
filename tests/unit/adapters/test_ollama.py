"""The Ollama adapters against a fake Ollama HTTP server."""

import asyncio

import pytest

from ragplane.adapters.answerers import Passage
from ragplane.adapters.ollama import OllamaAnswerer, OllamaClient, OllamaEmbedder, parse_citations
from ragplane.errors import DependencyRejected, DependencyUnavailable
from tests.fakes.ollama import DIMENSION, FakeOllama


def client(url: str, timeout: float = 5) -> OllamaClient:
    return OllamaClient(url, timeout_s=timeout, dependency="embedder")


def test_embeddings_are_unit_length_and_batched() -> None:
    async def go(url: str) -> None:
        embedder = OllamaEmbedder(client(url), "nomic-embed-text")
        vectors = await embedder.embed(["alpha beta", "gamma"])
        assert len(vectors) == 2 and len(vectors[0]) == DIMENSION
        assert sum(x * x for x in vectors[0]) == pytest.approx(1.0)
        assert await embedder.dimension() == DIMENSION
        assert await embedder.embed([]) == []
        assert (await embedder.check())["model"] == "nomic-embed-text"
        assert embedder.loaded
        await embedder.close()

    with FakeOllama() as fake:
        asyncio.run(go(fake.url))
        assert fake.requests[0] == ("/api/embed", {"model": "nomic-embed-text", "input": ["alpha beta", "gamma"]})


def test_a_missing_model_is_a_rejection_with_a_hint() -> None:
    async def go(url: str) -> None:
        embedder = OllamaEmbedder(client(url), "absent")
        with pytest.raises(DependencyRejected, match="ollama pull absent"):
            await embedder.check()
        with pytest.raises(DependencyRejected, match="not found"):
            await embedder.embed(["x"])
        await embedder.close()

    with FakeOllama() as fake:
        asyncio.run(go(fake.url))


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_unavailable(status: int) -> None:
    async def go(url: str) -> None:
        embedder = OllamaEmbedder(client(url), "nomic-embed-text")
        with pytest.raises(DependencyUnavailable, match=f"HTTP {status}"):
            await embedder.embed(["x"])
        await embedder.close()

    with FakeOllama() as fake:
        fake.fail_with = status
        asyncio.run(go(fake.url))


def test_timeouts_and_refused_connections_are_unavailable() -> None:
    async def go(url: str, limit_s: float) -> None:
        embedder = OllamaEmbedder(client(url, limit_s), "nomic-embed-text")
        with pytest.raises(DependencyUnavailable):
            await embedder.embed(["x"])
        await embedder.close()

    with FakeOllama() as fake:
        fake.delay_s = 0.5
        asyncio.run(go(fake.url, 0.1))
    asyncio.run(go("http://127.0.0.1:9", 1))


def test_generated_answers_keep_only_real_citations() -> None:
    passages = [Passage(1, "d", "T", "The breaker opens after five failures.", 0.9)]

    async def go(url: str):
        answerer = OllamaAnswerer(OllamaClient(url, timeout_s=5, dependency="llm"), "llama3.2")
        result = await answerer.answer("When?", passages, [])
        assert (await answerer.check())["model"] == "llama3.2"
        assert (await answerer.answer("When?", [], [])).grounded is False
        await answerer.close()
        return result

    with FakeOllama() as fake:
        result = asyncio.run(go(fake.url))
        prompt = fake.requests[0][1]["prompt"]
    assert "[1] T\nThe breaker opens after five failures." in prompt and "Question: When?" in prompt
    assert result.grounded and result.answerer == "ollama:llama3.2"
    assert [c.sources for c in result.citations] == [(1,)]  # [9] does not exist and is dropped


def test_parse_citations() -> None:
    text = "First claim [1]. Second claim [2][3] Third has none. Fourth [7]. Fifth. [3] Sixth [1][1]."
    assert [(c.text, c.sources) for c in parse_citations(text, {1, 2, 3})] == [
        ("First claim.", (1,)),
        ("Second claim", (2, 3)),
        ("Fifth.", (3,)),
        ("Sixth.", (1,)),
    ]
