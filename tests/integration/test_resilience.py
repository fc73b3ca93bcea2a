"""Fault injection with real processes (seed 1.1.10): breakers open, fail fast, probe, recover.

The embedder is the real model, failed, hung or slowed through the services' own fault
injection (`/internal/faults`, what `ragplane drill` uses); the LLM is a fake Ollama HTTP
server (the one part that cannot run here) that can refuse connections, hang or answer 500;
Qdrant is made unavailable by pointing QDRANT_URLS at a port where nothing listens or by a
fault. At every step /health and /metrics must agree with the breaker's state. A request
refused by an open breaker is told by the breaker's rejection counter, not by a stopwatch.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.ollama import FakeOllama
from tests.running import RunningStack, ingest, until

RECOVERY_S = 1.0


def search(client: httpx.Client, collection: str = "r") -> httpx.Response:
    return client.get("/api/v1/rag/search", params={"query": f"q {uuid.uuid4().hex}", "collection": collection})


def breaker_state(stack: RunningStack, name: str) -> tuple[str, float]:
    """The breaker as /health reports it, and as /metrics reports it."""
    with stack.client("query") as client:
        health = client.get("/health").json()["breakers"][name]
        metrics = client.get("/metrics").text
    gauge = re.search(rf'ragplane_circuit_breaker_state{{breaker="{name}",service="query"}} (\S+)', metrics)
    assert gauge, metrics
    return health["state"], float(gauge.group(1))


def transitions(stack: RunningStack, name: str, to: str) -> float:
    return counted(stack, f'ragplane_circuit_breaker_transitions_total{{breaker="{name}",service="query",to="{to}"}}')


def rejected(stack: RunningStack, name: str) -> float:
    """Calls the breaker refused without trying the dependency."""
    return counted(stack, f'ragplane_circuit_breaker_rejected_total{{breaker="{name}",service="query"}}')


def failures(stack: RunningStack, kind: str = "unavailable") -> float:
    """Calls to the embedder that were tried and failed."""
    return counted(stack, f'ragplane_dependency_errors_total{{dependency="embedder",kind="{kind}",service="query"}}')


def counted(stack: RunningStack, series: str) -> float:
    with stack.client("query") as client:
        text = client.get("/metrics").text
    found = re.search(re.escape(series) + r" (\S+)", text)
    return float(found.group(1)) if found else 0.0


def inject(stack: RunningStack, dependency: str, **fault: object) -> None:
    with stack.client("query", token=True) as query:
        assert query.post(f"/internal/faults/{dependency}", json=fault).status_code == 200


def clear(stack: RunningStack, dependency: str) -> None:
    with stack.client("query", token=True) as query:
        assert query.delete(f"/internal/faults/{dependency}").status_code == 204


def wait_for_probe(stack: RunningStack, name: str) -> None:
    deadline = time.monotonic() + RECOVERY_S + 5
    while time.monotonic() < deadline:
        with stack.client("query") as client:
            if client.get("/health").json()["breakers"][name]["retry_after_seconds"] == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("the breaker never became due for a probe")


@pytest.fixture
def ollama(make_settings) -> Iterator[tuple[RunningStack, FakeOllama]]:
    fake = FakeOllama()
    fake.start()
    settings = make_settings(
        OLLAMA_URL=fake.url,
        EMBEDDER="local",  # the real model; Ollama answers as the LLM only
        CIRCUIT_BREAKER_RECOVERY_S=str(RECOVERY_S),
        CIRCUIT_BREAKER_CALL_TIMEOUT_S="1",
    )
    stack = RunningStack(settings).start()
    with stack.client() as client:
        ingest(client, "r", [{"id": "a", "text": "The breaker opens after five failures."}])
    try:
        yield stack, fake
    finally:
        stack.stop()
        fake.stop()


def test_acceptance_dead_embedder_opens_then_recovers(ollama) -> None:
    stack, _ = ollama
    inject(stack, "embedder", mode="error", seconds=60)  # the model fails every call
    with stack.client() as client:
        for n in range(1, 6):
            r = search(client)
            assert r.status_code in (502, 503), (n, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert breaker_state(stack, "embedder") == (("open", 2.0) if n == 5 else ("closed", 0.0))
        tried = failures(stack)
        sixth = search(client)
    assert sixth.status_code == 503
    assert rejected(stack, "embedder") == 1 and failures(stack) == tried  # refused without a call
    assert 1 <= int(sixth.headers["retry-after"]) <= RECOVERY_S + 1
    body = sixth.json()
    assert body["dependency"] == body["breaker"] == "embedder"
    assert "circuit breaker 'embedder' is open" in body["detail"]
    assert transitions(stack, "embedder", "open") == 1
    with stack.client("query") as query:
        assert query.get("/health/ready").status_code == 503
        assert query.get("/health").json()["status"] == "degraded"
    with stack.client() as gateway:
        upstream = gateway.get("/health").json()["dependencies"]["query"]
        assert upstream["breakers"]["embedder"]["state"] == "open"
    wait_for_probe(stack, "embedder")
    clear(stack, "embedder")
    with stack.client() as client:
        assert search(client).status_code == 200
    assert breaker_state(stack, "embedder") == ("closed", 0.0)
    assert transitions(stack, "embedder", "half_open") == 1 and transitions(stack, "embedder", "closed") == 1


def test_a_failed_probe_reopens_and_only_one_probe_runs(ollama) -> None:
    stack, _ = ollama
    inject(stack, "embedder", mode="error", seconds=60)
    with stack.client() as client:
        for _ in range(5):
            assert search(client).status_code == 503
        wait_for_probe(stack, "embedder")
        tried = failures(stack)
        assert search(client).status_code == 503  # the probe fails: open again
        assert failures(stack) == tried + 1  # the probe, and only it, called the model
        assert breaker_state(stack, "embedder") == ("open", 2.0)
        assert transitions(stack, "embedder", "open") == 2
        wait_for_probe(stack, "embedder")
        inject(stack, "embedder", mode="delay", latency_ms=500, seconds=60)  # back, but slow: the probe takes a while
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            probe = pool.submit(search, client)
            until(lambda: breaker_state(stack, "embedder")[0] == "half_open", timeout=10)
            while_probing = search(client)
            assert probe.result().status_code == 200
    assert while_probing.status_code == 503 and while_probing.headers["retry-after"] == "1"
    assert breaker_state(stack, "embedder") == ("closed", 0.0)


def test_a_hanging_embedder_times_out_and_counts(ollama) -> None:
    stack, _ = ollama
    inject(stack, "embedder", mode="hang", seconds=3)  # past CIRCUIT_BREAKER_CALL_TIMEOUT_S=1
    with stack.client() as client:
        r = search(client)
    assert r.status_code == 503 and "no answer within 1 s" in r.json()["detail"]
    with stack.client("query") as query:
        assert query.get("/health").json()["breakers"]["embedder"]["failures"] == 1
    assert failures(stack, "timeout") == 1


def test_an_open_llm_breaker_degrades_answers_to_extractive(ollama) -> None:
    stack, fake = ollama
    fake.fail_with, fake.fail_paths = 500, {"/api/generate"}
    with stack.client() as client:
        for n in range(7):
            r = client.post("/api/v1/rag/query", json={"query": "When does the breaker open?", "collection": "r"})
            body = r.json()
            assert r.status_code == 200, r.text
            assert body["degraded"] is True and body["answerer"] == "extractive"
            assert "llm unavailable" in body["degraded_reason"]
            if n >= 5:
                assert "circuit breaker 'llm' is open" in body["degraded_reason"]
        assert sum(1 for path, _ in fake.requests if path == "/api/generate") == 5
        fake.fail_with = None
        with stack.client("query", token=True) as query:
            reset = query.post("/internal/breakers/llm/reset")
            assert reset.status_code == 200 and reset.json()["state"] == "closed"
        healthy = client.post("/api/v1/rag/query", json={"query": "When?", "collection": "r"}).json()
    assert healthy["degraded"] is False and healthy["answerer"] == "ollama:llama3.2"
    assert breaker_state(stack, "llm") == ("closed", 0.0)


def test_disabled_breakers_pass_every_call_through(make_settings) -> None:
    stack = RunningStack(make_settings(CIRCUIT_BREAKER_ENABLED="false")).start()
    try:
        with stack.client() as client:
            ingest(client, "r", [{"id": "a", "text": "text"}])
            inject(stack, "embedder", mode="error", seconds=60)
            statuses = [search(client).status_code for _ in range(8)]
        assert statuses == [503] * 8
        assert failures(stack) == 8 and rejected(stack, "embedder") == 0  # every one tried the model
        assert breaker_state(stack, "embedder") == ("closed", 0.0)
    finally:
        stack.stop()


def test_an_unreachable_qdrant_opens_its_breaker(make_settings) -> None:
    settings = make_settings(QDRANT_URLS="http://127.0.0.1:9", CIRCUIT_BREAKER_RECOVERY_S="30")
    stack = RunningStack(settings, services=("query",)).start(wait_ready=False)
    try:
        with stack.client("query", token=True) as client:
            for _ in range(5):
                r = search(client, "docs")
                assert r.status_code == 503 and r.json()["dependency"] == "qdrant"
            fast = search(client, "docs")
            assert fast.json()["breaker"] == "qdrant" and int(fast.headers["retry-after"]) > 20
            assert rejected(stack, "qdrant") == 1  # refused without a call
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["breaker:qdrant"]["status"] == "down"
            assert ready.json()["breakers"]["qdrant"]["state"] == "open"
        assert breaker_state(stack, "qdrant") == ("open", 2.0)
    finally:
        stack.stop()


def test_internal_breaker_and_fault_routes(ollama) -> None:
    stack, _ = ollama
    with stack.client("query", token=True) as query:
        assert set(query.get("/internal/breakers").json()["breakers"]) == {"embedder", "qdrant", "llm", "cache"}
        assert query.post("/internal/breakers/nope/reset").status_code == 404
        bad = query.post("/internal/faults/embedder", json={"seconds": -1, "mode": "explode"})
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["seconds", "mode"]
        assert query.post("/internal/faults/nope", json={}).status_code == 404
        no_latency = query.post("/internal/faults/embedder", json={"mode": "delay"})
        assert no_latency.status_code == 422 and no_latency.headers["content-type"] == "application/problem+json"
        stray = query.post("/internal/faults/embedder", json={"mode": "error", "latency_ms": 5})
        assert [e["field"] for e in stray.json()["errors"]] == ["latency_ms"]
        late = query.post("/internal/faults/embedder", json={"mode": "delay", "latency_ms": 120, "seconds": 30})
        assert late.json()["faults"]["embedder"]["latency_ms"] == 120
        with stack.client() as client:
            started = time.perf_counter()
            assert search(client).status_code == 200  # slower, not failing
            assert time.perf_counter() - started >= 0.12
        assert query.delete("/internal/faults/embedder").status_code == 204
        assert query.post("/internal/faults/qdrant", json={"seconds": 30}).status_code == 200
        assert set(query.get("/internal/faults").json()["faults"]) == {"qdrant"}
        with stack.client() as client:
            assert search(client).json()["dependency"] == "qdrant"
        assert query.delete("/internal/faults/qdrant").status_code == 204
        assert query.delete("/internal/faults/qdrant").status_code == 404
    with stack.client("query") as anonymous:
        assert anonymous.post("/internal/faults/qdrant", json={}).status_code == 403


def test_fault_injection_can_be_switched_off(make_settings) -> None:
    stack = RunningStack(make_settings(FAULT_INJECTION="false"), services=("query",)).start(wait_ready=False)
    try:
        with stack.client("query", token=True) as query:
            r = query.post("/internal/faults/embedder", json={"seconds": 5})
        assert r.status_code == 403 and "FAULT_INJECTION=false" in r.json()["detail"]
    finally:
        stack.stop()


def test_the_drill_command_trips_and_resets_a_breaker(make_settings, tmp_path, capsys) -> None:
    from urllib.parse import urlsplit

    from ragplane import cli

    stack = RunningStack(make_settings(CIRCUIT_BREAKER_RECOVERY_S="60")).start()
    try:
        with stack.client() as client:
            ingest(client, "docs", [{"id": "a", "text": "Drills trip breakers on purpose."}])
        env = tmp_path / ".env"
        env.write_text(
            f"INTER_SERVICE_SECRET={stack.settings.service_token}\n"
            f"GATEWAY_PORT={urlsplit(stack.urls['gateway']).port}\n"
            f"QUERY_URL={stack.urls['query']}\n"
        )
        assert cli.main(["--env-file", str(env), "drill", "breaker", "--dependency", "embedder"]) == 0
        out = capsys.readouterr().err
        assert "fault injected: embedder fails (error) for 60 s" in out
        assert "request 6: HTTP 503" in out and "breaker embedder: open, 5 failures" in out
        assert breaker_state(stack, "embedder") == ("open", 2.0)
        assert cli.main(["--env-file", str(env), "drill", "breaker", "--dependency", "embedder", "--end"]) == 0
        assert "reset to closed" in capsys.readouterr().err
        assert breaker_state(stack, "embedder") == ("closed", 0.0)
        with stack.client() as client:
            assert search(client, "docs").status_code == 200
        # Without an LLM the llm breaker guards nothing: the drill says so instead of six 200s.
        assert cli.main(["--env-file", str(env), "drill", "breaker", "--dependency", "llm"]) == 1
        out = capsys.readouterr().err
        assert "no LLM is in use (OLLAMA_URL is not set)" in out and "request 1" not in out
        assert breaker_state(stack, "llm") == ("closed", 0.0)
        wrong = tmp_path / "wrong.env"
        wrong.write_text(f"INTER_SERVICE_SECRET={stack.settings.service_token}\nQUERY_URL=http://127.0.0.1:9\n")
        assert cli.main(["--env-file", str(wrong), "drill", "breaker", "--dependency", "embedder"]) == 1
        assert "drill failed" in capsys.readouterr().err
    finally:
        stack.stop()


def test_a_wait_for_a_busy_gpu_slot_ends_in_503_with_retry_after(make_settings) -> None:
    with FakeOllama() as fake:
        settings = make_settings(OLLAMA_URL=fake.url, EMBEDDER="local", GPU_SLOTS="1", GPU_QUEUE_TIMEOUT_S="0.2")
        stack = RunningStack(settings).start()
        try:
            with stack.client() as client:
                ingest(client, "r", [{"id": "a", "text": "One slot, two questions."}])
                fake.delay_s, fake.slow_paths = 1.0, {"/api/generate"}
                import concurrent.futures

                def ask(question: str) -> httpx.Response:
                    return client.post("/api/v1/rag/query", json={"query": question, "collection": "r"})

                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    first = pool.submit(ask, "first question")  # holds the only slot while generating
                    until(lambda: any(path == "/api/generate" for path, _ in fake.requests), timeout=30)
                    second = ask("second question")  # its embedding waits for that slot
                    assert first.result().json()["degraded"] is False
            assert second.status_code == 503 and second.headers["retry-after"] == "1"
            assert "all GPU slots stayed busy for 0.2 s" in second.json()["detail"]
            with stack.client("query") as query:
                text = query.get("/metrics").text
            assert re.search(r'ragplane_gpu_queue_timeouts_total\{service="query"\} 1', text)
            assert breaker_state(stack, "embedder") == ("closed", 0.0), "overload is not a dependency failure"
        finally:
            stack.stop()


def test_the_qdrant_breaker_recovers_after_an_outage(make_settings) -> None:
    """Local storage made unavailable for a while (an injected fault), then back."""
    stack = RunningStack(make_settings(CIRCUIT_BREAKER_RECOVERY_S=str(RECOVERY_S))).start()
    try:
        with stack.client() as client:
            ingest(client, "r", [{"id": "a", "text": "Qdrant comes back."}])
        with stack.client("query", token=True) as query:
            assert query.post("/internal/faults/qdrant", json={"seconds": RECOVERY_S}).status_code == 200
        with stack.client() as client:
            for _ in range(5):
                assert search(client).json()["dependency"] == "qdrant"
            assert search(client).json()["breaker"] == "qdrant"
            assert breaker_state(stack, "qdrant") == ("open", 2.0)
            wait_for_probe(stack, "qdrant")
            time.sleep(0.1)  # the fault, as long as the recovery time, has ended too
            assert search(client).status_code == 200
        assert breaker_state(stack, "qdrant") == ("closed", 0.0)
    finally:
        stack.stop()
