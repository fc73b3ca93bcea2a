"""Embeddings remembered by text: the same vectors, and only new texts reach the model."""

import asyncio

import pytest

from ragplane.adapters.answerers import ExtractiveAnswerer
from ragplane.kit.cache import Cache, MemoryBackend
from ragplane.kit.embedding_cache import CachedEmbedder
from ragplane.telemetry.metrics import ServiceMetrics
from tests.unit.adapters.test_answerers import PASSAGES, CountingEmbedder


def test_only_texts_the_cache_lacks_are_embedded_and_vectors_are_the_models(embedding_model) -> None:
    async def go() -> None:
        model = CountingEmbedder()
        metrics = ServiceMetrics("query")
        cached = CachedEmbedder(model, Cache("sentence_embeddings", MemoryBackend(100), metrics))
        direct = await model.embed(["breakers open", "pasta boils"])
        model.texts = 0
        first = await cached.embed(["breakers open", "pasta boils"])
        again = await cached.embed(["pasta boils", "a new text", "breakers open"])
        assert model.texts == 3  # two, then only the new one
        assert first == [pytest.approx(v, abs=1e-6) for v in direct]
        assert again[0] == first[1] and again[2] == first[0] and len(again) == 3
        assert cached.name == model.name and cached.loaded and await cached.dimension() == 384
        assert await cached.check() == await model.check()
        await cached.start()
        await cached.close()  # the model is shared: closing the view leaves it open
        assert model.loaded
        await model.close()

    asyncio.run(go())


def test_answers_from_cached_sentence_vectors_are_the_same_answers(embedding_model) -> None:
    question = "When does the circuit breaker open?"

    async def go() -> None:
        model = CountingEmbedder()
        [vector] = await model.embed([question])
        cache = Cache("sentence_embeddings", MemoryBackend(100), ServiceMetrics("query"))
        answerer = ExtractiveAnswerer(CachedEmbedder(model, cache))
        model.texts = 0
        first = await answerer.answer(question, PASSAGES, vector)
        embedded = model.texts
        second = await answerer.answer(question, PASSAGES, vector)
        assert embedded > 0 and model.texts == embedded  # the second answer embedded nothing
        assert second == first == await ExtractiveAnswerer(model).answer(question, PASSAGES, vector)
        await model.close()

    asyncio.run(go())
