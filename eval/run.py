"""`make eval`: ask every question of `eval/questions.yaml` through the Q&A API and score the answers.

    .venv/bin/python -m eval [--questions eval/questions.yaml] [--url URL [--token TOKEN]] [--collection docs]

Without `--url` it starts the query and collections services in this process on free ports,
with a throw-away data dir, and ingests `docs/` and `runbooks/` into `docs` with the demo ids
(`docs/<file>.md`, `runbooks/<file>.md`), as `ragplane up --demo` does. With `--url` it asks a
running query service (`--token`: its service token) or gateway instead, whose collection must
hold the demo corpus.

It prints four shares and the questions that missed, and exits 1 when a share is under its
target (95 %):

- hit@3: answerable questions with a right document among the first three sources;
- first citation: answerable questions whose answer's first citation is a right document;
- expected words: answerable questions whose answer contains every expected word;
- not found: unanswerable questions answered with `grounded: false`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.yaml"
CORPUS = ("docs", "runbooks")
TARGET = 0.95
TOP = 3
FIGURES = {
    "hit@3": "hit@3 of a right document",
    "first_citation": "first citation from a right document",
    "expected_words": "answers containing the expected words",
    "not_found": "unanswerable answered grounded: false",
}


@dataclass(frozen=True)
class Question:
    """A question; answerable ones name the documents that answer them and what the answer must say."""

    text: str
    documents: tuple[str, ...] = ()
    expect: tuple[tuple[str, ...], ...] = ()  # every item, as one of its alternatives

    @property
    def answerable(self) -> bool:
        return bool(self.documents)


def load(path: Path = QUESTIONS) -> list[Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = [
        Question(
            str(item["question"]),
            tuple(str(d) for d in item["documents"]),
            tuple(tuple(str(a) for a in (e if isinstance(e, list) else [e])) for e in item["expect"]),
        )
        for item in data["answerable"]
    ]
    return questions + [Question(str(text)) for text in data["unanswerable"]]


@dataclass
class Outcome:
    question: Question
    body: dict[str, Any]
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def missed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


def judge(question: Question, body: dict[str, Any]) -> Outcome:
    """Which of the four checks the answer `body` (a Q&A response) passes."""
    outcome = Outcome(question, body)
    if not question.answerable:
        outcome.checks["not_found"] = body["grounded"] is False
        return outcome
    right = set(question.documents)
    documents = {source["id"]: source["document_id"] for source in body["sources"]}
    outcome.checks["hit@3"] = any(source["document_id"] in right for source in body["sources"][:TOP])
    citations = body["citations"]
    first = documents.get(citations[0]["sources"][0]) if body["grounded"] and citations else None
    outcome.checks["first_citation"] = first in right
    answer = body["answer"].casefold() if body["grounded"] else ""
    outcome.checks["expected_words"] = all(
        any(word.casefold() in answer for word in alternatives) for alternatives in question.expect
    )
    return outcome


@dataclass
class Report:
    outcomes: list[Outcome]

    def share(self, check: str) -> tuple[int, int]:
        judged = [o.checks[check] for o in self.outcomes if check in o.checks]
        return sum(judged), len(judged)

    @property
    def passed(self) -> bool:
        return all(total and good / total >= TARGET for good, total in map(self.share, FIGURES))

    def lines(self) -> list[str]:
        lines = []
        for check, label in FIGURES.items():
            good, total = self.share(check)
            percent = 100 * good / total if total else 0.0
            mark = "ok" if total and good / total >= TARGET else "MISSED"
            lines.append(f"  {label:<40} {good:>3}/{total:<3} {percent:5.1f} %   target {TARGET:.0%}  {mark}")
        took = [float(o.body.get("took_ms", 0.0)) for o in self.outcomes]
        if took:
            lines.append(
                f"  Q&A took_ms, one client: mean {statistics.fmean(took):.0f}, "
                f"p50 {statistics.median(took):.0f}, max {max(took):.0f}"
            )
        misses = [o for o in self.outcomes if o.missed]
        lines.append(f"misses ({len(misses)}):" if misses else "misses: none")
        for o in misses:
            answer = " ".join(str(o.body["answer"]).split())
            lines.append(f"  [{', '.join(o.missed)}] {o.question.text}")
            lines.append(f"      grounded={o.body['grounded']} answer: {answer[:300]}")
            lines.append(f"      sources: {', '.join(str(s['document_id']) for s in o.body['sources'])}")
        return lines


async def ask_all(client: httpx.AsyncClient, questions: Sequence[Question], collection: str) -> Report:
    """Each question through POST /api/v1/rag/query, one at a time."""
    outcomes = []
    for question in questions:
        response = await client.post("/api/v1/rag/query", json={"query": question.text, "collection": collection})
        if response.status_code != 200:
            raise RuntimeError(f"{question.text!r}: HTTP {response.status_code}: {response.text[:300]}")
        outcomes.append(judge(question, response.json()))
    return Report(outcomes)


def corpus_documents() -> list[dict[str, str]]:
    """docs/ and runbooks/ as API documents with the demo ids (paths relative to the repository)."""
    paths = sorted(p for folder in CORPUS for p in (ROOT / folder).rglob("*.md"))
    return [{"id": p.relative_to(ROOT).as_posix(), "text": p.read_text(encoding="utf-8")} for p in paths]


async def seed(client: httpx.AsyncClient, collection: str) -> dict[str, Any]:
    """Create `collection`, ingest the corpus into it and wait for the job; the finished job."""
    response = await client.post("/api/v1/rag/collections", json={"name": collection})
    if response.status_code != 201:
        raise RuntimeError(f"cannot create {collection}: HTTP {response.status_code}: {response.text[:300]}")
    response = await client.post(
        f"/api/v1/rag/collections/{collection}/documents", json={"documents": corpus_documents()}
    )
    if response.status_code != 202:
        raise RuntimeError(f"ingestion refused: HTTP {response.status_code}: {response.text[:300]}")
    while True:
        job: dict[str, Any] = (await client.get(f"/api/v1/rag/jobs/{response.json()['id']}")).json()
        if job["state"] == "completed":
            return job
        if job["state"] == "failed":
            raise RuntimeError(f"ingestion failed: {job['error']}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def embedded(data: Path) -> AsyncIterator[tuple[dict[str, str], str]]:
    """Query and collections in this process on free ports: their URLs and the service token."""
    from ragplane.settings import load_settings
    from ragplane.stack import Runner, build_stack

    secret = secrets.token_urlsafe(40)
    environ = {
        "RAGPLANE_DATA_DIR": str(data),
        "QUERY_PORT": "0",
        "COLLECTIONS_PORT": "0",
        "INTER_SERVICE_SECRET": secret,
        "LOG_LEVEL": "WARNING",
        "EMBEDDER_PROCESS": "false",  # answers, not throughput: share a model already in this process (the tests')
    }
    runner = Runner(await build_stack(load_settings(environ=environ, env_file=None), ("query", "collections")))
    await runner.start()
    try:
        yield runner.stack.urls, secret
    finally:
        await runner.stop()


def client(url: str, token: str | None) -> httpx.AsyncClient:
    headers = {"X-Service-Token": token} if token else {}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=120)


async def evaluate(args: argparse.Namespace, questions: Sequence[Question]) -> Report:
    if args.url:
        async with client(args.url, args.token) as http:
            return await ask_all(http, questions, args.collection)
    with tempfile.TemporaryDirectory(prefix="ragplane-eval-") as data:
        async with embedded(Path(data)) as (urls, token):
            started = time.perf_counter()
            async with client(urls["collections"], token) as http:
                job = await seed(http, args.collection)
            print(
                f"ingested {job['documents']['ingested']} documents, {job['chunks']} chunks "
                f"in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            async with client(urls["query"], token) as http:
                return await ask_all(http, questions, args.collection)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="the evaluation set (YAML)")
    parser.add_argument("--url", help="a running query service or gateway (default: start one in process)")
    parser.add_argument("--token", help="the service token, when --url is a query service")
    parser.add_argument("--collection", default="docs", help="the collection holding the demo corpus")
    args = parser.parse_args(argv)
    questions = load(args.questions)
    started = time.perf_counter()
    report = asyncio.run(evaluate(args, questions))
    answerable = sum(q.answerable for q in questions)
    print(
        f"eval: {answerable} answerable and {len(questions) - answerable} unanswerable questions "
        f"in {time.perf_counter() - started:.0f} s"
    )
    print("\n".join(report.lines()))
    return 0 if report.passed else 1
