"""Answerers compose an answer to a question from retrieved passages, citing them.

`ExtractiveAnswerer` (the default) needs no LLM: it quotes the sentences of the top passages
that best answer the question, each cited with its passage number, so every claim in the
answer can be checked against its source. Candidates (`adapters/sentences.py`) are scored by
the question's key terms, their passage's rank and, for a shortlist, their meaning; the best
passage's sentences come first. When the passages hold few of the question's key terms and
nothing close in meaning, the answer is an honest "not found" (`grounded: false`). It never
invents text, which also means it cannot paraphrase or combine facts; the Ollama answerer
does that when `OLLAMA_URL` is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy

from ragplane.adapters.embedders import Embedder
from ragplane.adapters.sentences import (
    Sentence,
    asks_quantity,
    candidates,
    coverage,
    lexical_scores,
    overlap,
    states_quantity,
)
from ragplane.lexical import key_terms


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, numbered from 1 in the order it is shown to the reader."""

    number: int
    document_id: str
    title: str
    text: str
    score: float
    section: str = ""


@dataclass(frozen=True)
class Citation:
    text: str
    sources: tuple[int, ...]


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    answerer: str
    grounded: bool


class Answerer(Protocol):
    name: str

    async def check(self) -> dict[str, Any]:
        """Readiness: details when answers can be composed now, an exception when not."""

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer: ...


def render(citations: Sequence[Citation]) -> str:
    """Citations as one paragraph, each sentence followed by its source markers."""
    parts = []
    for c in citations:
        sentence = c.text if c.text[-1:] in ".!?" else c.text + "."
        parts.append(sentence + " " + "".join(f"[{n}]" for n in c.sources))
    return " ".join(parts)


def not_found(answerer: str) -> Answer:
    return Answer(
        text="The collection has no passage that answers this question.",
        citations=(),
        answerer=answerer,
        grounded=False,
    )


@dataclass(frozen=True)
class _Scored:
    sentence: Sentence
    score: float
    similarity: float


class ExtractiveAnswerer:
    """The sentences of the top passages that best match the question, grouped by passage, each cited."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        max_passages: int = 5,
        shortlist: int = 16,
        # Midway between the strongest unanswerable question of eval/ (1.05) and the weakest answerable (1.08).
        min_evidence: float = 1.07,
        keep_ratio: float = 0.8,
        duplicate_overlap: float = 0.6,
        weights: tuple[float, float, float] = (0.4, 0.3, 0.3),
        rank_decay: float = 0.25,
        quantity_bonus: float = 0.2,
    ) -> None:
        self.quantity_bonus = quantity_bonus
        self.weights = weights
        self.rank_decay = rank_decay
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.max_passages = max_passages
        self.shortlist = shortlist
        self.min_evidence = min_evidence
        self.keep_ratio = keep_ratio
        self.duplicate_overlap = duplicate_overlap

    async def check(self) -> dict[str, Any]:
        return {"name": self.name, "embedder": self.embedder.name}

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer:
        top = passages[: self.max_passages]
        key = key_terms(question)
        # A sentence that adds fewer than two terms to the question's ("Runbook: circuit-breaker-open.") says nothing.
        pool = [s for s in candidates(top) if len(s.terms - set(key)) >= 2]
        if not pool:
            return not_found(self.name)
        # Cheap first: the question's words and the passage's rank pick a shortlist; only it is embedded.
        lexical = lexical_scores(key, pool)
        prior = [1 / (1 + self.rank_decay * (s.passage.number - top[0].number)) for s in pool]
        ws, wl, wp = self.weights
        # A question asking how long, how many or when is answered by a sentence that states a number.
        quantity = asks_quantity(question)
        bonus = [self.quantity_bonus if quantity and states_quantity(s.text) else 0.0 for s in pool]
        cheap = sorted(range(len(pool)), key=lambda i: (-(0.7 * lexical[i] + 0.3 * prior[i]), i))[: self.shortlist]
        vectors = await self.embedder.embed([pool[i].quoted for i in cheap])
        # Cosine similarities: all vectors are unit-length.
        similarities = (numpy.asarray(vectors) @ numpy.asarray(question_vector)).tolist()
        scored = sorted(
            (
                _Scored(pool[i], ws * similarity + wl * lexical[i] + wp * prior[i] + bonus[i], similarity)
                for i, similarity in zip(cheap, similarities, strict=True)
            ),
            key=lambda s: -s.score,
        )
        # Evidence: the share of the question's key terms the passages contain, plus how close in meaning
        # the best sentence is. Either may be weak (a paraphrase; a question of rare words the model
        # does not know), not both.
        if coverage(key, top) + max(s.similarity for s in scored) < self.min_evidence:
            return not_found(self.name)
        chosen: list[_Scored] = []
        for s in scored:
            if len(chosen) == self.max_sentences or s.score < self.keep_ratio * scored[0].score:
                break
            if all(overlap(s.sentence, c.sentence) < self.duplicate_overlap for c in chosen):
                chosen.append(s)
        # The best sentence's passage first; within a passage, reading order.
        rank: dict[int, int] = {}
        for s in chosen:
            rank.setdefault(s.sentence.passage.number, len(rank))
        chosen.sort(key=lambda s: (rank[s.sentence.passage.number], s.sentence.position))
        citations = tuple(Citation(s.sentence.quoted, (s.sentence.passage.number,)) for s in chosen)
        return Answer(render(citations), citations, self.name, grounded=True)
