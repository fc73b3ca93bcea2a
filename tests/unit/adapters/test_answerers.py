"""The extractive answerer with the real embedding model."""

import asyncio

from ragplane.adapters.answerers import Citation, ExtractiveAnswerer, Passage, render
from ragplane.adapters.embedders import LocalEmbedder

PASSAGES = [
    Passage(
        1,
        "breakers.md",
        "Breakers",
        "The circuit breaker opens after five consecutive failures. While open, calls fail at once with a 503.",
        0.7,
    ),
    Passage(2, "cooking.md", "Cooking", "Boil the pasta for nine minutes. Salt the water generously first.", 0.1),
    Passage(3, "recovery.md", "Recovery", "After ten seconds the breaker lets one probe call through.", 0.5),
]


def answer(question: str, passages=PASSAGES):
    async def go():
        embedder = LocalEmbedder(threads=2)
        [vector] = await embedder.embed([question])
        result = await ExtractiveAnswerer(embedder).answer(question, passages, vector)
        await embedder.close()
        return result

    return asyncio.run(go())


def test_relevant_sentences_are_cited_in_reading_order(embedding_model) -> None:
    result = answer("When does the circuit breaker open?")
    assert result.grounded
    assert result.citations[0] == Citation("The circuit breaker opens after five consecutive failures.", (1,))
    assert all(c.sources[0] != 2 for c in result.citations), "the cooking passage is irrelevant"
    numbers = [c.sources[0] for c in result.citations]
    assert numbers == sorted(numbers)
    assert result.text.startswith("The circuit breaker opens after five consecutive failures. [1]")


def test_no_relevant_sentence_means_no_answer(embedding_model) -> None:
    result = answer("What is the capital of Mongolia?", PASSAGES[1:2])
    assert not result.grounded and result.citations == ()
    assert answer("anything", []).grounded is False


def test_render_adds_end_punctuation() -> None:
    assert render([Citation("A fact", (1, 2)), Citation("Done!", (3,))]) == "A fact. [1][2] Done! [3]"
