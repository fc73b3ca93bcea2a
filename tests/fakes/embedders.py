"""A stand-in for the `Embedder` protocol, for unit tests of the services' endpoints.

Real tests of the embedder run the real model; these stub it at its protocol, so an endpoint
test is about the endpoint: bag-of-words vectors (texts sharing words are near each other),
and a failure on demand while `down`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from ragplane.errors import DependencyUnavailable


def bag_of_words(text: str, dimension: int) -> list[float]:
    """Unit-length, as the `Embedder` protocol promises: similar texts are near each other."""
    vector = [0.0] * dimension
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimension] += 1.0
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector] if norm else [1.0] + [0.0] * (dimension - 1)


class StubEmbedder:
    """The `Embedder` protocol: bag-of-words vectors, or a failure while `down`."""

    name = "stub:bag-of-words"
    loaded = True

    def __init__(self, dimension: int) -> None:
        self.size = dimension
        self.down = False
        self.calls = 0

    async def start(self) -> None:
        pass

    async def check(self) -> dict[str, Any]:
        return {"model": self.name}

    async def dimension(self) -> int:
        return self.size

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.down:
            raise DependencyUnavailable("embedder", "the stub is down", kind="unreachable")
        return [bag_of_words(t, self.size) for t in texts]

    async def close(self) -> None:
        pass
