"""Answer quality is a feature: the whole evaluation of eval/questions.yaml through the session
stack's Q&A API (the demo corpus ingested as `make run` does), held to the targets `make eval`
prints. A change to retrieval, the answerer or the docs (they are the corpus) that costs answer
quality fails here with the questions that missed."""

import asyncio

from eval.run import FIGURES, ask_all, client, load
from tests.running import RunningStack


def test_the_evaluation_meets_its_targets(stack: RunningStack, demo_corpus: str) -> None:
    questions = load()

    async def run():
        async with client(stack.urls["query"], stack.settings.service_token) as http:
            return await ask_all(http, questions, demo_corpus)

    report = asyncio.run(run())
    assert len(report.outcomes) == len(questions) >= 50
    assert all(report.share(check)[1] for check in FIGURES)
    assert report.passed, "\n".join(report.lines())
