"""Embeddings remembered by their text.

A text's vector under one model never changes, so an entry's key is the model's name and the
text, with no collection version in it: entries stay correct whatever the collections do, and
`CACHE_TTL_S` only bounds memory. The query service keeps questions' vectors this way, and the
extractive answerer's sentence vectors: a passage's sentences are embedded the first time they
are weighed for an answer, and answering from that passage again embeds only the question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ragplane.adapters.embedders import Embedder, EmbedderView
from ragplane.kit.cache import Cache


def embedding_key(model: str, text: str) -> str:
    return f"{model}\x00{text}"


class CachedEmbedder(EmbedderView):
    """An embedder that asks its cache first and embeds only the texts it lacks, in one call."""

    def __init__(self, inner: Embedder, cache: Cache[list[float]]) -> None:
        super().__init__(inner)
        self.cache = cache

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [embedding_key(self.name, text) for text in texts]
        found = list(await asyncio.gather(*(self.cache.get(key) for key in keys)))
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            vectors = await self.inner.embed([texts[i] for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                found[i] = vector
                await self.cache.put(keys[i], vector)
        return [vector for vector in found if vector is not None]
