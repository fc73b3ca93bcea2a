"""Answerers compose an answer to a question from retrieved passages, citing them.

`ExtractiveAnswerer` (the default) needs no LLM: it picks the sentences of the top
passages closest in meaning to the question, keeps them in reading order and cites
each with its passage number, so every claim in the answer can be checked against its
source. It never invents text, which also means it cannot paraphrase or combine facts;
the Ollama answerer does that when `OLLAMA_URL` is set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ragplane.adapters.embedders import Embedder
from ragplane.text import split_sentences


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


_CODE_LIKE = re.compile(r"[{};=]|^\s*[$>]|\(\)|──|│")


def _candidate(sentence: str) -> bool:
    """Whether a sentence can stand in an answer: prose of a sensible length, not code, not a
    lead-in to a list that was left behind (ends with a colon)."""
    return (
        25 <= len(sentence) <= 400
        and len(_CODE_LIKE.findall(sentence)) < 3
        and " " in sentence
        and not sentence.endswith(":")
    )


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # both unit-length


class ExtractiveAnswerer:
    """Best-matching sentences from the top passages, in reading order, each cited."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        max_passages: int = 5,
        min_similarity: float = 0.3,
        duplicate_similarity: float = 0.92,
    ) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.max_passages = max_passages
        self.min_similarity = min_similarity
        self.duplicate_similarity = duplicate_similarity

    async def check(self) -> dict[str, Any]:
        return {"name": self.name, "embedder": self.embedder.name}

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer:
        candidates = [
            (p, position, sentence)
            for p in passages[: self.max_passages]
            for position, sentence in enumerate(split_sentences(p.text, prose_only=True))
            if _candidate(sentence)
        ]
        if not candidates:
            return not_found(self.name)
        vectors = await self.embedder.embed([sentence for _, _, sentence in candidates])
        scored = sorted(
            (
                (0.8 * _cosine(question_vector, vector) + 0.2 * passage.score, index)
                for index, ((passage, _, _), vector) in enumerate(zip(candidates, vectors, strict=True))
            ),
            reverse=True,
        )
        chosen: list[int] = []
        for score, index in scored:
            if score < self.min_similarity or len(chosen) == self.max_sentences:
                break
            if all(_cosine(vectors[index], vectors[c]) < self.duplicate_similarity for c in chosen):
                chosen.append(index)
        if not chosen:
            return not_found(self.name)
        ordered = sorted(chosen, key=lambda i: (candidates[i][0].number, candidates[i][1]))
        citations = tuple(Citation(candidates[i][2], (candidates[i][0].number,)) for i in ordered)
        return Answer(render(citations), citations, self.name, grounded=True)
