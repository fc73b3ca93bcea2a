"""The query mix: what simulated users search for and ask, drawn from `queries.yaml`.

Real traffic repeats itself unevenly: a few questions come up again and again, most rarely,
and some are asked for the first time. That unevenness is what decides the cache hit ratio,
so a mix of uniformly drawn or all-new queries would measure a system nobody runs. Each draw
is, with probability `tail`, a first-time query (a listed one with a suffix no other draw
has), else the k-th most asked listed query with probability proportional to 1 / k^zipf_s.
`tail = 1` (LOAD_UNIQUE=true) gives the uncached case: every query is new.

Every user draws from its own stream, seeded from the profile's fixed seed and the user's
number, so a run sends the same queries in the same order every time; only the suffixes of
first-time queries carry the run's own id, so that they are new to the stack on every run.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from loadtests.profiles import Queries

PATH = Path(__file__).with_name("queries.yaml")
KINDS = ("searches", "questions")


def load(path: Path = PATH) -> dict[str, tuple[str, ...]]:
    """The ranked lists of `queries.yaml`: {"searches": (...), "questions": (...)}."""
    document = yaml.safe_load(path.read_text())
    lists = {kind: tuple(str(q).strip() for q in document.get(kind) or ()) for kind in KINDS}
    for kind, entries in lists.items():
        if not entries or len(set(entries)) != len(entries) or not all(entries):
            raise ValueError(f"{path.name}: `{kind}` must be a non-empty list of distinct queries")
    return lists


def zipf_weights(n: int, s: float) -> list[float]:
    """Cumulative weights of ranks 1..n under 1 / k^s, for `random.choices(cum_weights=...)`."""
    return list(itertools.accumulate(1 / k**s for k in range(1, n + 1)))


@dataclass
class QueryMix:
    """One user's stream of queries; `draw()` returns the next."""

    queries: tuple[str, ...]
    plan: Queries
    stream: str
    unique: bool = False
    run: str = ""  # in first-time suffixes: a stack that served an earlier run has not seen them

    def __post_init__(self) -> None:
        self._random = random.Random(f"{self.plan.seed}:{self.stream}")
        self._cumulative = zipf_weights(len(self.queries), self.plan.zipf_s)
        self._fresh = itertools.count(1)

    @property
    def tail(self) -> float:
        return 1.0 if self.unique else self.plan.tail

    def draw(self) -> str:
        query = self._random.choices(self.queries, cum_weights=self._cumulative)[0]
        if self._random.random() < self.tail:
            return f"{query} ({self.run}{self.stream}-{next(self._fresh)})"
        return query
