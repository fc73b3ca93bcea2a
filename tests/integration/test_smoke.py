from tests.running import RunningStack, ingest


def test_stack_answers(stack: RunningStack, unique) -> None:
    with stack.client() as gw:
        name = unique("smoke")
        job = ingest(gw, name, [{"id": "a", "text": "# Breakers\n\nThe circuit breaker opens after five failures."}])
        assert job["state"] == "completed", job
        r = gw.get("/api/v1/rag/search", params={"query": "when does the breaker open", "collection": name})
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["document_id"] == "a"
