"""Embeddings remembered by text: the same vectors, and only new texts reach the model."""

import asyncio

import pytest

from ragplane.adapters.answerers import ExtractiveAnswerer
from ragplane.adapters.cache import Cache, MemoryBackend
from ragplane.services.query.embedding_cache import CachedEmbedder
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


class Gated(CountingEmbedder):
    """The real model behind a gate: a call starts, then waits until the test opens the gate."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail = fail

    async def embed(self, texts):
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("the model broke")
        return await super().embed(texts)


def cached_view(model, tracer=None) -> CachedEmbedder:
    return CachedEmbedder(model, Cache("query_embeddings", MemoryBackend(100), ServiceMetrics("query")), tracer=tracer)


def test_concurrent_callers_of_the_same_text_share_one_embedding(embedding_model) -> None:
    async def go() -> None:
        model = Gated()
        cached = cached_view(model)
        first = asyncio.create_task(cached.embed(["breakers open", "pasta boils"]))
        await model.started.wait()
        others = [asyncio.create_task(cached.embed(["pasta boils", "breakers open", "pasta boils"])) for _ in range(5)]
        await asyncio.sleep(0)  # let them find the texts in flight
        model.gate.set()
        vectors = await first
        for other in others:
            assert await other == [vectors[1], vectors[0], vectors[1]]
        assert model.texts == 2
        await model.close()

    asyncio.run(go())


def test_a_failed_embedding_fails_its_waiters_and_is_not_remembered(embedding_model) -> None:
    async def go() -> None:
        model = Gated(fail=True)
        cached = cached_view(model)
        first = asyncio.create_task(cached.embed(["breakers open"]))
        await model.started.wait()
        waiter = asyncio.create_task(cached.embed(["breakers open"]))
        await asyncio.sleep(0)
        model.gate.set()
        for task in (first, waiter):
            with pytest.raises(RuntimeError, match="broke"):
                await task
        model.fail = False
        assert len(await cached.embed(["breakers open"])) == 1  # tried again, not stuck in flight
        await model.close()

    asyncio.run(go())


def test_waiters_whose_embedder_was_cancelled_embed_the_text_once_themselves(embedding_model) -> None:
    async def go() -> None:
        model = Gated()
        cached = cached_view(model)
        first = asyncio.create_task(cached.embed(["breakers open"]))
        await model.started.wait()
        waiters = [asyncio.create_task(cached.embed(["breakers open"])) for _ in range(2)]
        await asyncio.sleep(0)
        first.cancel()  # its client hung up
        await asyncio.sleep(0)
        model.gate.set()
        [one], [other] = [await waiter for waiter in waiters]
        assert len(one) == 384 and one == other and first.cancelled()
        assert model.texts == 1  # the cancelled call never reached the model; one waiter embedded for both
        await model.close()

    asyncio.run(go())


def test_only_a_miss_is_an_embed_span(embedding_model) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ragplane.kit.tracing import create_tracer_provider

    spans = InMemorySpanExporter()
    tracer = create_tracer_provider("query", processors=(SimpleSpanProcessor(spans),)).get_tracer("t")

    async def go() -> None:
        model = CountingEmbedder()
        cached = cached_view(model, tracer)
        await cached.embed(["breakers open", "pasta boils"])
        await cached.embed(["pasta boils"])
        await model.close()

    asyncio.run(go())
    [span] = spans.get_finished_spans()
    assert span.name == "embed" and span.attributes["texts"] == 2
