"""Q&A over real HTTP with the extractive answerer."""

import re

import pytest

from tests.running import RunningStack, ingest

DOCS = [
    {
        "id": "breakers.md",
        "text": "# Circuit breakers\n\nThe circuit breaker opens after five consecutive "
        "failures. While it is open, requests fail at once with a 503 answer. After ten seconds one probe request "
        "is let through.",
    },
    {
        "id": "backups.md",
        "text": "# Backups\n\nSnapshots of every collection are taken daily at 2 AM. They are kept for seven days.",
    },
]


@pytest.fixture(scope="module")
def qa(stack: RunningStack) -> str:
    with stack.client() as client:
        assert ingest(client, "qa", DOCS)["state"] == "completed"
    return "qa"


def ask(client, question, **extra):
    return client.post("/api/v1/rag/query", json={"query": question, **extra})


def test_answer_sentences_cite_their_sources(gateway, qa) -> None:
    r = ask(gateway, "When does the circuit breaker open?", collection=qa)
    assert r.status_code == 200
    body = r.json()
    assert body["grounded"] and body["answerer"] == "extractive"
    assert "five consecutive failures" in body["answer"]
    source_ids = {s["id"] for s in body["sources"]}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert cited and cited <= source_ids
    for citation in body["citations"]:
        assert citation["text"] in body["answer"]
        assert set(citation["sources"]) <= source_ids
    first = next(s for s in body["sources"] if s["id"] == body["citations"][0]["sources"][0])
    assert first["document_id"] == "breakers.md"


def test_answer_comes_from_the_right_document(gateway, qa) -> None:
    body = ask(gateway, "How long are backups kept?", collection=qa).json()
    assert "seven days" in body["answer"]


def test_max_results_limits_sources(gateway, qa) -> None:
    body = ask(gateway, "backups", collection=qa, max_results=1).json()
    assert body["max_results"] == 1 and len(body["sources"]) == 1
    assert ask(gateway, "backups", collection=qa, max_results=99).json()["max_results"] == 50


def test_unanswerable_questions_say_so(gateway, qa) -> None:
    body = ask(gateway, "Who painted the Mona Lisa?", collection=qa).json()
    assert body["grounded"] is False and body["citations"] == []


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"json": ["a list"]}, 400),
        ({"json": {"collection": "qa"}}, 422),
        ({"json": {"query": ""}}, 422),
        ({"json": {"query": "x", "max_results": "lots"}}, 422),
        ({"content": b"query=x", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415),
        ({"json": {"query": "x", "collection": "absent"}}, 404),
    ],
)
def test_bad_requests_are_problems(gateway, kwargs, status) -> None:
    r = gateway.post("/api/v1/rag/query", **kwargs)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


def test_get_is_not_allowed_on_query(gateway) -> None:
    r = gateway.get("/api/v1/rag/query")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


def test_demo_corpus_answers_how_services_authenticate(gateway, demo_corpus) -> None:
    body = ask(gateway, "How do the services authenticate each other?", collection="docs").json()
    assert body["grounded"]
    # The corpus holds both service tokens (inter-service) and bearer tokens (the gateway's JWTs).
    assert re.search(r"secret|token|bearer|JWT", body["answer"], re.I)
