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


class CountingEmbedder(LocalEmbedder):
    """The real model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(threads=2)
        self.texts = 0

    async def embed(self, texts):
        self.texts += len(texts)
        return await super().embed(texts)


def answer_with(question: str, passages, **options):
    async def go():
        embedder = CountingEmbedder()
        [vector] = await embedder.embed([question])
        embedder.texts = 0
        result = await ExtractiveAnswerer(embedder, **options).answer(question, passages, vector)
        await embedder.close()
        return result, embedder.texts

    return asyncio.run(go())


RECIPES = [
    Passage(
        1,
        "risotto.md",
        "Risotto",
        "Take the pan off the heat and beat in the cold butter and the parmesan until creamy. "
        "This step is called mantecatura. Let it rest for two minutes.",
        0.9,
        "Finishing",
    ),
    Passage(2, "bread.md", "Bread", "Bake the loaf at 250 degrees for twenty minutes, covered.", 0.5),
]


def test_a_sentence_is_quoted_with_the_sentence_it_depends_on(embedding_model) -> None:
    result, _ = answer_with("What is mantecatura?", RECIPES)
    assert result.grounded
    assert result.citations[0].text.startswith("Take the pan off the heat")
    assert result.citations[0].text.endswith("This step is called mantecatura.")
    assert result.citations[0].sources == (1,)


def test_weak_evidence_is_not_an_answer(embedding_model) -> None:
    result, _ = answer_with("How do I make a chocolate cake?", RECIPES)
    assert not result.grounded and result.citations == ()


def test_only_a_shortlist_is_embedded(embedding_model) -> None:
    many = [
        Passage(n, f"d{n}.md", "Doc", " ".join(f"Sentence {n}.{i} about breakers opening now." for i in range(8)), 0.5)
        for n in range(1, 6)
    ]
    result, embedded = answer_with("When does the breaker open?", many, shortlist=6)
    assert result.grounded
    assert embedded == 6


def test_the_best_sentence_passage_is_cited_first(embedding_model) -> None:
    passages = [
        Passage(1, "misc.md", "Misc", "Backups are kept for seven days in the bucket.", 0.9),
        Passage(2, "breakers.md", "Breakers", "The circuit breaker opens after five consecutive failures.", 0.5),
    ]
    result, _ = answer_with("When does the circuit breaker open?", passages)
    assert result.citations[0].sources == (2,)
