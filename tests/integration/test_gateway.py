"""The edge through real HTTP: maintenance, body limit, request ids, CORS and replica failover."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from ragplane import cli
from ragplane.services.gateway.auth import issue_token
from tests.integration.conftest import edge_for, stack_settings
from tests.running import RunningStack, ingest, until

API = "/api/v1/rag"
JWT_SECRET = "j" * 40


@pytest.fixture
def edge(stack: RunningStack, tmp_path: Path) -> Iterator[RunningStack]:
    running = edge_for(
        stack,
        tmp_path / "edge",
        CORS_ALLOWED_ORIGINS="https://app.example",
        GATEWAY_MAX_BODY_BYTES="2000",
        JWT_SECRET=JWT_SECRET,
    )
    yield running
    running.stop()


def test_maintenance_through_the_cli_answers_503_and_keeps_health(
    edge: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"INTER_SERVICE_SECRET={edge.settings.service_token}\n")
    url = edge.urls["gateway"]
    with edge.client() as client:
        assert (
            cli.main(["--env-file", str(env_file), "maintenance", "on", "--message", "Re-indexing", "--url", url]) == 0
        )
        refused = client.get(f"{API}/search", params={"query": "x"})
        health = client.get("/health")
        page = client.get("/")
        assert cli.main(["--env-file", str(env_file), "maintenance", "off", "--url", url]) == 0
        after = client.get(f"{API}/collections")
        anonymous = client.put("/internal/maintenance", json={})

    assert refused.status_code == 503 and refused.headers["retry-after"] == "300"
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["detail"] == "Re-indexing"
    assert health.status_code == 200 and health.json()["dependencies"]["maintenance"]["message"] == "Re-indexing"
    assert page.status_code == 200 and 'id="maintenance"' in page.text
    assert after.status_code == 200
    assert anonymous.status_code == 403  # the switch needs the service token
    assert "maintenance is on (Retry-After 300 s): Re-indexing" in capsys.readouterr().err


def test_request_ids_and_the_body_limit(edge: RunningStack) -> None:
    with edge.client() as client:
        answered = client.get(f"{API}/collections", headers={"X-Request-ID": "trace-me-42"})
        too_big = client.post(
            f"{API}/query", content=b"{" + b" " * 3000 + b"}", headers={"content-type": "application/json"}
        )

    assert answered.headers["x-request-id"] == "trace-me-42"
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    assert too_big.headers["x-request-id"]


def test_cors_preflight_for_allowed_and_other_origins(edge: RunningStack) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with edge.client() as client:
        allowed = client.options(f"{API}/query", headers={"Origin": "https://app.example", **preflight})
        other = client.options(f"{API}/query", headers={"Origin": "https://evil.example", **preflight})
        simple = client.get(f"{API}/collections", headers={"Origin": "https://app.example"})
        stranger = client.get(f"{API}/collections", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in allowed.headers["access-control-allow-methods"] and "Origin" in allowed.headers["vary"]
    assert other.status_code == 403 and other.headers["content-type"] == "application/problem+json"
    assert not [h for h in other.headers if h.startswith("access-control-")]
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert not [h for h in stranger.headers if h.startswith("access-control-")]
    assert "Origin" in stranger.headers["vary"]


def test_a_query_replica_dying_under_traffic_costs_no_get(tmp_path: Path, embedding_model: object) -> None:
    secret = secrets.token_urlsafe(40)  # one secret: the gateway's token must open every replica
    replicas = [
        RunningStack(stack_settings(tmp_path / f"r{i}", INTER_SERVICE_SECRET=secret), services=("query", "collections"))
        for i in (0, 1)
    ]
    for replica in replicas:
        replica.start()
    try:
        for replica in replicas:
            with replica.client("collections", token=True) as client:
                ingest(client, "docs", [{"id": "a.md", "text": "# Alpha\n\nAlpha particles are helium nuclei."}])
        gateway_settings = stack_settings(
            tmp_path / "gw",
            INTER_SERVICE_SECRET=secret,
            QUERY_UPSTREAMS=",".join(r.urls["query"] for r in replicas),
            COLLECTIONS_URL=replicas[0].urls["collections"],
        )
        gateway = RunningStack(gateway_settings, services=("gateway",)).start()
        try:
            statuses: Counter[int] = Counter()
            stop = threading.Event()

            def traffic() -> None:
                with httpx.Client(base_url=gateway.urls["gateway"], timeout=30) as client:
                    while not stop.is_set():
                        r = client.get(f"{API}/search", params={"query": "helium", "collection": "docs"})
                        statuses[r.status_code] += 1

            worker = threading.Thread(target=traffic)
            worker.start()
            until(lambda: statuses.total() >= 30, timeout=60)  # both replicas serving
            replicas[1].stop()
            stopped_at = statuses.total()
            until(lambda: statuses.total() >= stopped_at + 60, timeout=60)  # and on, with one gone
            stop.set()
            worker.join(30)
        finally:
            gateway.stop()
    finally:
        replicas[0].stop()

    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20


def test_tokens_from_the_cli_are_accepted_and_tampered_ones_refused(
    edge: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"JWT_SECRET={JWT_SECRET}\n")
    assert cli.main(["--env-file", str(env_file), "token", "--sub", "alice", "--plan", "pro", "--ttl", "1h"]) == 0
    token = capsys.readouterr().out.strip()
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"
    with edge.client() as client:
        ok = client.get(f"{API}/collections", headers={"Authorization": f"Bearer {token}"})
        refused = client.get(f"{API}/collections", headers={"Authorization": f"Bearer {tampered}"})
        anonymous = client.get(f"{API}/collections")

    assert ok.status_code == 200 and anonymous.status_code == 200
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    auth = edge.stack.apps["gateway"].state.spec.metrics.registry.get_sample_value
    assert auth("ragplane_gateway_auth_total", {"result": "ok"}) == 1
    assert auth("ragplane_gateway_auth_total", {"result": "invalid"}) == 1


@pytest.fixture
def limited(stack: RunningStack, tmp_path: Path) -> Iterator[list[RunningStack]]:
    """Two gateways with the real plans, sharing their counters in the real Redis."""
    prefix = f"rp-test-{secrets.token_hex(6)}"
    env = {
        "RATE_LIMIT_PLANS": "free:100,pro:1000",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET": JWT_SECRET,
    }
    gateways = [edge_for(stack, tmp_path / f"gw{i}", **env) for i in (0, 1)]
    yield gateways
    for gateway in gateways:
        gateway.stop()
    cleanup = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in cleanup.scan_iter(f"{prefix}:*"):
        cleanup.delete(key)
    cleanup.close()


def test_the_101st_anonymous_request_in_a_minute_is_429_across_two_gateways(limited: list[RunningStack]) -> None:
    path = f"{API}/jobs/none"  # a cheap 404 upstream: it counts like any request
    clients = [httpx.Client(base_url=g.urls["gateway"], timeout=30) for g in limited]
    try:
        probe = clients[0].get(path)  # request 1; if the minute is about to turn, start in the next one
        if int(probe.headers["ratelimit-reset"]) < 15:
            time.sleep(int(probe.headers["ratelimit-reset"]) + 0.2)
            probe = clients[0].get(path)
        answers = [probe, *(clients[i % 2].get(path) for i in range(99))]
        refused = clients[0].get(path)
    finally:
        for client in clients:
            client.close()

    assert {a.status_code for a in answers} == {404}
    assert answers[0].headers["x-ratelimit-limit-minute"] == "100" and answers[0].headers["ratelimit-limit"] == "100"
    assert [int(a.headers["x-ratelimit-remaining-minute"]) for a in answers[-3:]] == [2, 1, 0]
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
    limited_total = limited[0].stack.apps["gateway"].state.spec.metrics.registry.get_sample_value
    assert limited_total("ragplane_gateway_rate_limited_total", {"plan": "free"}) == 1


def test_a_pro_token_gets_the_pro_limit(limited: list[RunningStack], tmp_path: Path) -> None:
    settings = limited[0].settings
    token = issue_token(settings.gateway, sub="pro-user", plan="pro", ttl_s=600)
    with httpx.Client(base_url=limited[0].urls["gateway"], timeout=30) as client:
        first = client.get(f"{API}/jobs/none", headers={"Authorization": f"Bearer {token}"})

    assert first.headers["x-ratelimit-limit-minute"] == "1000"
    assert first.headers["x-ratelimit-remaining-minute"] == "999"
