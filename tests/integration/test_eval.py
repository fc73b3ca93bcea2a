"""The evaluation's code path against the session stack: a few questions of eval/questions.yaml
through the Q&A API (the whole set runs with `make eval`, about a minute)."""

import asyncio

from eval.run import ask_all, client, load
from tests.running import RunningStack


def test_a_subset_of_the_evaluation_runs_and_scores(stack: RunningStack, demo_corpus: str) -> None:
    questions = load()
    subset = [q for q in questions if q.answerable][:3] + [q for q in questions if not q.answerable][:2]

    async def run():
        async with client(stack.urls["query"], stack.settings.inter_service_secret) as http:
            return await ask_all(http, subset, demo_corpus)

    report = asyncio.run(run())
    assert len(report.outcomes) == 5
    assert report.share("hit@3")[1] == 3 and report.share("not_found") == (2, 2)
    assert any(line.strip().startswith("hit@3") for line in report.lines())
