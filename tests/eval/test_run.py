"""The evaluation's data and scoring (the full run is `make eval`, and tests/integration/test_eval.py)."""

from pathlib import Path

import pytest

from eval.run import FIGURES, Question, Report, corpus_documents, judge, load, main

RIGHT = Question("When does the breaker open?", ("docs/resilience.md",), (("5", "five"), ("consecutive",)))


def body(answer: str, grounded: bool = True, cited: int = 1) -> dict:
    sources = [{"id": 1, "document_id": "docs/other.md"}, {"id": 2, "document_id": "docs/resilience.md"}]
    citations = [{"text": answer, "sources": [cited]}] if grounded else []
    return {"answer": answer, "grounded": grounded, "citations": citations, "sources": sources, "took_ms": 5.0}


def test_the_set_is_big_enough_and_names_real_documents() -> None:
    questions = load()
    answerable = [q for q in questions if q.answerable]
    assert len(answerable) >= 40 and len(questions) - len(answerable) >= 10
    ids = {d["id"] for d in corpus_documents()}
    assert {"docs/api.md", "runbooks/on-call.md"} <= ids
    for q in answerable:
        assert set(q.documents) <= ids, q.text
        assert q.expect and all(q.expect), q.text
    assert len({q.text for q in questions}) == len(questions)


def test_an_answer_is_judged_on_sources_citation_and_words() -> None:
    good = judge(RIGHT, body("It opens after 5 consecutive failures. [2]", cited=2))
    assert good.checks == {"hit@3": True, "first_citation": True, "expected_words": True}
    wrong_source = judge(RIGHT, body("It opens after five consecutive failures. [1]", cited=1))
    assert wrong_source.missed == ["first_citation"]
    assert judge(RIGHT, body("It opens after failures.", cited=2)).missed == ["expected_words"]
    ungrounded = judge(RIGHT, body("The collection has no passage that answers this question.", grounded=False))
    assert ungrounded.missed == ["first_citation", "expected_words"]


def test_unanswerable_questions_must_not_be_grounded() -> None:
    question = Question("Who painted the Mona Lisa?")
    assert judge(question, body("No passage.", grounded=False)).checks == {"not_found": True}
    assert judge(question, body("Leonardo. [1]")).missed == ["not_found"]


def test_the_report_fails_under_the_target_and_lists_misses() -> None:
    outcomes = [judge(RIGHT, body("5 consecutive [2]", cited=2)) for _ in range(19)]
    outcomes.append(judge(RIGHT, body("nothing useful", cited=1)))
    outcomes.append(judge(Question("Unanswerable?"), body("x", grounded=False)))
    report = Report(outcomes)
    assert report.share("first_citation") == (19, 20) and report.share("not_found") == (1, 1)
    assert report.passed  # 95 % is the target
    lines = "\n".join(report.lines())
    assert all(label in lines for label in FIGURES.values())
    assert "[first_citation, expected_words] When does the breaker open?" in lines
    assert not Report([*outcomes, judge(RIGHT, body("nothing", cited=1))]).passed


def test_a_missing_question_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["--questions", str(tmp_path / "none.yaml")])
