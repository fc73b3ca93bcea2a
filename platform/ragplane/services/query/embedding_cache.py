"""Embeddings remembered by their text.

A text's vector under one model never changes, so an entry's key is the model's name and the
text, with no collection version in it: entries stay correct whatever the collections do, and
`CACHE_TTL_S` only bounds memory. The query service keeps questions' vectors this way, and the
extractive answerer's sentence vectors: a passage's sentences are embedded the first time they
are weighed for an answer, and answering from that passage again embeds only the question.

A text that a concurrent caller is already embedding is not embedded again: the caller waits
for that vector (single flight). Without this, a burst of the same question on a cold cache
(16 clients asking at once) embedded the same sentences 16 times over and queued every other
request behind the model for seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from opentelemetry.trace import Tracer

from ragplane.adapters.cache import Cache
from ragplane.adapters.embedders import Embedder, EmbedderView
from ragplane.kit.tracing import stage

Vector = list[float]


def embedding_key(model: str, text: str) -> str:
    return f"{model}\x00{text}"


class CachedEmbedder(EmbedderView):
    """An embedder that asks its cache first and embeds only the texts it lacks, in one call.

    With a `tracer`, the model call for the missing texts is an `embed` span (a hit costs none).
    """

    def __init__(self, inner: Embedder, cache: Cache[Vector], *, tracer: Tracer | None = None) -> None:
        super().__init__(inner)
        self.cache = cache
        self.tracer = tracer
        self._in_flight: dict[str, asyncio.Future[Vector]] = {}

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        keys = [embedding_key(self.name, text) for text in texts]
        found: list[Vector | None] = list(await asyncio.gather(*(self.cache.get(key) for key in keys)))
        mine: dict[str, str] = {}  # key → text: embedded by this call
        theirs: dict[str, tuple[str, asyncio.Future[Vector]]] = {}  # key → text and another call's vector
        for key, text, vector in zip(keys, texts, found, strict=True):
            if vector is not None or key in mine or key in theirs:
                continue
            if key in self._in_flight:
                theirs[key] = text, self._in_flight[key]
            else:
                mine[key] = text
        vectors = await self._embed_own(mine) if mine else {}
        for key, (text, pending) in theirs.items():
            try:
                vectors[key] = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled, not the one it waited for
                [vectors[key]] = await self.embed([text])  # its embedder left: ask again, joining any retry
        return [vector if vector is not None else vectors[key] for key, vector in zip(keys, found, strict=True)]

    async def _embed_own(self, texts: dict[str, str]) -> dict[str, Vector]:
        """Embed `texts` (key → text, none in flight), hand each vector to whoever waits for it, and
        cache it. The keys are registered before the first `await`, so a caller arriving meanwhile waits."""
        loop = asyncio.get_running_loop()
        for key in texts:
            self._in_flight[key] = loop.create_future()
        try:
            if self.tracer is None:
                embedded = await self.inner.embed(list(texts.values()))
            else:
                with stage(self.tracer, "embed", embedder=self.name, texts=len(texts)):
                    embedded = await self.inner.embed(list(texts.values()))
        except BaseException as exc:
            for key in texts:
                pending = self._in_flight.pop(key)
                if isinstance(exc, asyncio.CancelledError):
                    pending.cancel()  # waiters ask again
                else:
                    pending.set_exception(exc)
                    pending.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        vectors = dict(zip(texts, embedded, strict=True))
        for key, vector in vectors.items():
            self._in_flight.pop(key).set_result(vector)
            await self.cache.put(key, vector)
        return vectors
