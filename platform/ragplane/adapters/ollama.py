"""Ollama adapters: embeddings (`/api/embed`) and generated answers (`/api/generate`).

Selected when `OLLAMA_URL` is set. Transport errors, timeouts and 5xx answers become
`DependencyUnavailable` (retry later); a 4xx, such as a model that was never pulled,
becomes `DependencyRejected` with Ollama's own message.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import httpx

from ragplane.adapters.answerers import Answer, Citation, Passage, not_found
from ragplane.errors import DependencyRejected, DependencyUnavailable

log = logging.getLogger("ragplane.ollama")


class OllamaClient:
    """JSON over HTTP to one Ollama server, with errors translated."""

    def __init__(self, base_url: str, *, timeout_s: float, dependency: str) -> None:
        self.base_url = base_url
        self.dependency = dependency
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", path, body)

    async def get(self, path: str) -> dict[str, Any]:
        return await self._request("GET", path, None)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise DependencyUnavailable(self.dependency, "Ollama did not answer in time", kind="timeout") from exc
        except httpx.TransportError as exc:
            log.warning("cannot reach Ollama at %s: %r", self.base_url, exc)
            raise DependencyUnavailable(
                self.dependency, f"cannot reach Ollama ({type(exc).__name__})", kind="unreachable"
            ) from exc
        if response.status_code >= 500:
            raise DependencyUnavailable(
                self.dependency, f"Ollama answered HTTP {response.status_code}", kind="server_error"
            )
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise DependencyRejected(self.dependency, f"Ollama refused: {message or response.status_code}")
        if not isinstance(data, dict):
            raise DependencyUnavailable(
                self.dependency, "Ollama answered with something that is not a JSON object", kind="bad_response"
            )
        return data

    async def has_model(self, model: str) -> dict[str, Any]:
        tags = await self.get("/api/tags")
        names = {m.get("name", "") for m in tags.get("models", []) if isinstance(m, dict)}
        if model not in names and f"{model}:latest" not in names:
            raise DependencyRejected(self.dependency, f"Ollama has no model {model!r}; run `ollama pull {model}`")
        return {"url": self.base_url, "model": model}

    async def close(self) -> None:
        await self.http.aclose()


class OllamaEmbedder:
    """Embeddings from an Ollama model (e.g. nomic-embed-text), normalised to unit length."""

    def __init__(self, client: OllamaClient, model: str) -> None:
        self.client = client
        self.model = model
        self.name = f"ollama:{model}"
        self._dimension: int | None = None

    @property
    def loaded(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def check(self) -> dict[str, Any]:
        return await self.client.has_model(self.model)

    async def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len((await self.embed(["dimension probe"]))[0])
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        data = await self.client.post("/api/embed", {"model": self.model, "input": list(texts)})
        vectors = data.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise DependencyUnavailable(
                self.client.dependency, "Ollama returned the wrong number of embeddings", kind="bad_response"
            )
        return [_unit(v) for v in vectors]

    async def close(self) -> None:
        await self.client.close()


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


PROMPT = """Answer the question using only the numbered passages below.
After every sentence, cite the passages it relies on with their numbers in brackets, like [1] or [2][3].
If the passages do not contain the answer, say that you do not know.

{passages}

Question: {question}
Answer:"""

# A sentence ends at . ! ? unless citation markers follow (they belong to it), or after
# its markers when a capital letter starts the next one: "A [1]. B. [2] C [3] D."
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?!\[)|(?<=\])\s+(?=[A-Z])")
_MARKER = re.compile(r"\s*\[(\d+)\]")


def parse_citations(text: str, valid: set[int]) -> tuple[Citation, ...]:
    """Sentences of a generated answer with the passage numbers they cite (unknown numbers dropped)."""
    citations = []
    for sentence in _SENTENCE_BREAK.split(text.strip()):
        numbers = tuple(dict.fromkeys(n for n in map(int, _MARKER.findall(sentence)) if n in valid))
        plain = _MARKER.sub("", sentence).strip()
        if plain and numbers:
            citations.append(Citation(plain, numbers))
    return tuple(citations)


class OllamaAnswerer:
    """Answers written by an Ollama model from the numbered passages."""

    def __init__(self, client: OllamaClient, model: str) -> None:
        self.client = client
        self.model = model
        self.name = f"ollama:{model}"

    async def check(self) -> dict[str, Any]:
        return await self.client.has_model(self.model)

    async def answer(self, question: str, passages: Sequence[Passage], question_vector: Sequence[float]) -> Answer:
        if not passages:
            return not_found(self.name)
        context = "\n\n".join(
            f"[{p.number}] {p.title}{' — ' + p.section if p.section else ''}\n{p.text}" for p in passages
        )
        data = await self.client.post(
            "/api/generate",
            {
                "model": self.model,
                "prompt": PROMPT.format(passages=context, question=question),
                "stream": False,
                "options": {"temperature": 0.1},
            },
        )
        text = str(data.get("response", "")).strip()
        if not text:
            raise DependencyUnavailable(self.client.dependency, "Ollama returned an empty answer", kind="bad_response")
        citations = parse_citations(text, {p.number for p in passages})
        return Answer(text, citations, self.name, grounded=bool(citations))

    async def close(self) -> None:
        await self.client.close()
