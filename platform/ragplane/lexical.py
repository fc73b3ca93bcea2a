"""Terms of a text for lexical matching: BM25 sparse vectors for Qdrant, key terms of a question.

Words are case-folded runs of letters and digits (so `X-Service-Token` gives `x`, `service`,
`token`); one-character words and English stop words are dropped, and the rest reduced to
their Snowball stems (py-rust-stemmers), so "authenticate", "authenticated" and
"authentication" are one term.

The stop words are the Snowball project's English list, a few prepositions it lacks ("per",
"via") and the contractions the tokenizer leaves behind: function words only. The broad lists
packaged on PyPI also drop words that carry meaning in technical text ("open", "kept", "five",
"test", "system"), which would make "When does a circuit breaker open?" lose its verb.

In a sparse vector a term's index is the CRC-32 of its stem: stable across processes and
releases, nothing to store, and collisions among a collection's ~10^4 terms are rare. A
chunk's weights are BM25's term-frequency part (saturation `K1`, length normalisation `B`
against `AVERAGE_TERMS`); the inverse document frequency is left to the engine (Qdrant's
`Modifier.IDF` on the sparse vector), which keeps it current as the collection changes. A
query weighs each distinct term 1, so the engine's dot product is the BM25 score.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from py_rust_stemmers import SnowballStemmer

K1 = 1.2
B = 0.75
# About the terms of an 800-character chunk with its title and section path: the default chunk size.
AVERAGE_TERMS = 60

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself let me more most
    my myself no nor not of off on once only or other ought our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves
    also per upon via within
    aren couldn didn doesn don hadn hasn haven isn ll mustn re shan shouldn ve wasn weren won wouldn
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Words that frame a question rather than name its subject ("How long…", "What happens when…").
QUESTION_WORDS = frozenset(
    ["get", "gets", "go", "goes", "happen", "happens", "long", "many", "may", "much", "let", "might", "must"]
)
_WORD = re.compile(r"[^\W_]+")
_stemmer = SnowballStemmer("english")


@dataclass(frozen=True)
class SparseVector:
    """Term indices (ascending) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer.stem_word(word))


def terms(text: str) -> list[str]:
    """The text's terms in order, repeats kept: stems of its words that are not stop words."""
    return [_stem(w) for w in _WORD.findall(text.casefold()) if len(w) > 1 and w not in STOP_WORDS]


def key_terms(question: str) -> list[str]:
    """The question's terms that name what it asks about: its terms without the words that frame it."""
    return [t for t in terms(question) if t not in _QUESTION_STEMS]


def index(term: str) -> int:
    """A term's dimension in a sparse vector."""
    return zlib.crc32(term.encode())


def _vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(tuple(i for i, _ in ordered), tuple(w for _, w in ordered))


def _by_index(counts: Iterable[tuple[str, float]]) -> dict[int, float]:
    weights: dict[int, float] = {}
    for term, weight in counts:
        key = index(term)
        weights[key] = weights.get(key, 0.0) + weight  # a collision merges two terms
    return weights


def document_vector(text: str) -> SparseVector:
    """A chunk's BM25 term weights, IDF excluded (the engine applies it)."""
    counts = Counter(terms(text))
    norm = K1 * (1 - B + B * sum(counts.values()) / AVERAGE_TERMS)
    return _vector(_by_index((term, tf * (K1 + 1) / (tf + norm)) for term, tf in counts.items()))


def query_vector(text: str) -> SparseVector:
    """A query's key terms, each weighing 1: the words that frame a question ("How long…",
    "What happens…") name nothing to look for, and would match passages that use them in
    passing ("kept dropping entries" for "How long are query logs kept?")."""
    return _vector(_by_index((term, 1.0) for term in set(key_terms(text))))


_QUESTION_STEMS = frozenset(_stem(w) for w in QUESTION_WORDS)
