"""The sentences an extractive answer can be made of, and how well each matches a question's words.

A candidate is a prose sentence or a table row (its cells labelled with their column
headers) of a retrieved passage that can stand in an answer: not code, not a lead-in to a
list, not a list of links. A sentence that opens by pointing back
("This step is called mantecatura.", "It opens after 5 failures.") says little alone, so it
carries the sentence before it as its context and is quoted with it; so does a sentence after a
short label that heads its paragraph ("Fix and resume. Fix the cause, then…").

Lexical matching is BM25's idea at sentence scale: each of the question's key terms
(`ragplane.lexical.terms`) weighs its inverse frequency among the candidates, so a term that
every candidate shares decides little and a rare one much; a sentence scores the share of
the question's weight it contains, terms of its passage's title and section path counting
half. It is cheap (no model), which lets the answerer embed only a shortlist.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragplane.lexical import terms
from ragplane.text import commands, inline_code_spans, split_sentences, table_rows

if TYPE_CHECKING:
    from ragplane.adapters.answerers import Passage

HEADING_WEIGHT = 0.5
MAX_CHARACTERS = 400
LABEL_WORDS = 4
PASSAGES_REMEMBERED = 4096  # passage texts whose reading is kept (a few KiB each)
# Marks of code, not of prose: a semicolon followed by a space is prose punctuation ("wait; loading
# takes 5 s"), and so is the "; " that joins a table row's cells.
_CODE_LIKE = re.compile(r"[{}=]|;(?!\s)|^\s*[$>]|\(\)|──|│")
_QUANTITY_QUESTION = re.compile(r"^\s*(how\s+(long|many|much|large|big|often|quickly|soon|fast)|when)\b", re.I)
# A number standing as a word ("30 days", "(5)"), not a digit inside a name ("v1", "rate5m"); not
# "one", which is a pronoun as often as a count ("one is never chosen over the other").
_QUANTITY = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)?(?!\w)|\b(two|three|four|five|six|seven|eight|nine|ten|twelve|hundred|thousand)\b",
    re.I,
)
# Words that open a sentence by pointing at the one before it.
_LEANS_BACK = re.compile(r"^(this|that|these|those|it|its|they|their|them|such|both|then|otherwise|instead)\b", re.I)


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    position: int  # among the passage's prose sentences
    text: str
    terms: frozenset[str]
    context: str = ""  # the sentence this one leans on, quoted before it

    @property
    def quoted(self) -> str:
        return f"{self.context} {self.text}" if self.context else self.text


def standalone(sentence: str, code_spans: Sequence[str] = ()) -> bool:
    """Whether a sentence can stand in an answer: prose of a sensible length, not code, not a
    lead-in to a list or code that was left behind (ends with a colon), not a list of links
    ("Follow the cause: a.md, b.md, c.md"). `code_spans` are the inline code spans of its passage:
    what they hold is named in the prose (`GET /internal/faults/{dependency}`), not code the
    prose is made of, so it does not count towards looking like code."""
    words = sentence.split()
    links = sum(w.rstrip(".,;:)").endswith(".md") for w in words)
    prose = sentence
    for span in code_spans:
        prose = prose.replace(span, " ")
    return (
        25 <= len(sentence) <= MAX_CHARACTERS
        and len(_CODE_LIKE.findall(prose)) < 3
        and len(words) >= 4
        and links < 2
        and not sentence.endswith(":")
    )


def asks_quantity(question: str) -> bool:
    """Whether the answer to `question` is a number: a count, a size, a duration, a moment."""
    return bool(_QUANTITY_QUESTION.search(question))


def states_quantity(sentence: str) -> bool:
    return bool(_QUANTITY.search(sentence))


def leans_back(sentence: str) -> bool:
    return bool(_LEANS_BACK.match(sentence))


@dataclass(frozen=True)
class _Draft:
    """A candidate of one passage's text, before it is tied to the passage it was retrieved as."""

    position: int
    text: str
    terms: frozenset[str]
    context: str = ""


@functools.lru_cache(maxsize=PASSAGES_REMEMBERED)
def _drafts(text: str) -> tuple[_Draft, ...]:
    """A passage's candidates, in reading order. Reading a passage is most of the cost of an
    answer, and the same passages come back for many questions, so each text is read once."""
    seen: set[str] = set()
    found = []
    prose = split_sentences(text, prose_only=True)
    spans = inline_code_spans(text)
    for position, sentence in enumerate(prose):
        if sentence in seen or not standalone(sentence, spans):
            continue
        seen.add(sentence)
        previous = prose[position - 1] if position > 0 else ""
        label = len(previous.split()) <= LABEL_WORDS  # "Fix and resume." heading its paragraph
        context = previous if label or (leans_back(sentence) and standalone(previous, spans)) else ""
        found.append(_Draft(position, sentence, frozenset(terms(f"{context} {sentence}")), context))
    extra = [t for t in table_rows(text) if standalone(t)]
    extra += [t for t in commands(text) if len(t) <= MAX_CHARACTERS]  # code, on purpose
    for position, sentence in enumerate(extra, start=len(prose)):
        if sentence not in seen:
            seen.add(sentence)
            found.append(_Draft(position, sentence, frozenset(terms(sentence))))
    return tuple(found)


def candidates(passages: Sequence[Passage]) -> list[Sentence]:
    """The passages' candidate sentences in reading order; a sentence repeated in a later passage
    (chunks overlap) is kept only where it first appears."""
    seen: set[str] = set()
    found = []
    for passage in passages:
        for d in _drafts(passage.text):
            if d.text not in seen:
                seen.add(d.text)
                found.append(Sentence(passage, d.position, d.text, d.terms, d.context))
    return found


@functools.lru_cache(maxsize=PASSAGES_REMEMBERED)
def _terms_of(text: str) -> frozenset[str]:
    return frozenset(terms(text))


def _heading_terms(passage: Passage) -> frozenset[str]:
    return _terms_of(f"{passage.title} {passage.section}")


def lexical_scores(question: Sequence[str], pool: Sequence[Sentence]) -> list[float]:
    """Per sentence, the share (0..1) of the question's term weight it contains, counting the terms
    that some candidate contains."""
    headings = {id(s.passage): _heading_terms(s.passage) for s in pool}
    frequency = {t: sum(t in s.terms or t in headings[id(s.passage)] for s in pool) for t in set(question)}
    key = set(frequency)
    if not key:
        return [0.0] * len(pool)
    weight = {t: math.log(1 + (len(pool) + 0.5) / (frequency[t] + 0.5)) for t in key}
    total = sum(weight.values())
    return [
        (sum(weight[t] for t in key & s.terms) + HEADING_WEIGHT * sum(weight[t] for t in key & headings[id(s.passage)]))
        / (total * (1 + HEADING_WEIGHT))
        for s in pool
    ]


def overlap(a: Sentence, b: Sentence) -> float:
    """How much two sentences say the same: the Jaccard similarity of their terms."""
    return len(a.terms & b.terms) / max(1, len(a.terms | b.terms))


def coverage(question: Sequence[str], passages: Sequence[Passage]) -> float:
    """The share of the question's distinct key terms that occur anywhere in the passages (1.0 when
    the question has none): a question about things the passages never name is not answered there."""
    key = set(question)
    if not key:
        return 1.0
    present: set[str] = set()
    for p in passages:
        present.update(_heading_terms(p), _terms_of(p.text))
    return len(key & present) / len(key)
