"""Hostile inputs, through the gateway and straight at the services: a 4xx problem each, nothing internal shown.

Each case is what an attacker sent in a probe of the product. Every answer must be a 4xx
`application/problem+json` with a human `detail`, show no internal address, file path or
stack trace, and leave the stack healthy and serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from ragplane.kit.problems import PROBLEM_JSON
from ragplane.services.gateway.auth import issue_token
from tests.integration.conftest import edge_for
from tests.running import RunningStack, ingest

API = "/api/v1/rag"
JWT_SECRET = "h" * 40
ORIGIN = "https://app.example"


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@dataclass(frozen=True)
class Hostile:
    """One hostile request: `{collection}` in the path is a collection that exists."""

    method: str
    path: str
    body: str | bytes | None = None
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client, collection: str) -> httpx.Response:
        headers = {"content-type": "application/json", **self.headers} if self.body is not None else self.headers
        return client.request(self.method, self.path.format(collection=collection), content=self.body, headers=headers)


DOCUMENTS = API + "/collections/{collection}/documents"
# What reaches a service whichever door it came through.
BODIES = {
    "query nested 10,000 deep": Hostile("POST", f"{API}/query", "[" * 10_000 + "]" * 10_000),
    "query field nested 10,000 deep": Hostile("POST", f"{API}/query", '{"query": ' + "[" * 10_000 + "]" * 10_000 + "}"),
    "question with a lone surrogate": Hostile("POST", f"{API}/query", '{"query": "why \\ud800?"}'),
    "question with a 50,000-digit integer": Hostile(
        "POST", f"{API}/query", '{"query": "x", "n": ' + "7" * 50_000 + "}"
    ),
    "max_results of 5,000 digits": Hostile(
        "POST", f"{API}/query", '{"query": "x", "max_results": ' + "9" * 5_000 + "}"
    ),
    "NaN in a question": Hostile("POST", f"{API}/query", '{"query": "x", "max_results": NaN}'),
    "question with a NUL": Hostile("POST", f"{API}/query", '{"query": "a\\u0000b"}', status=422),
    "collection nested 10,000 deep": Hostile("POST", f"{API}/collections", "[" * 10_000 + "]" * 10_000),
    "collection with Infinity": Hostile("POST", f"{API}/collections", '{"name": "x", "chunk_size": Infinity}'),
    "metadata nested 400 deep": Hostile(
        "POST", DOCUMENTS, '{"documents": [{"text": "hi", "metadata": ' + nested(400) + "}]}"
    ),
    "document with a lone surrogate": Hostile("POST", DOCUMENTS, '{"documents": [{"text": "caf\\udce9 au lait"}]}'),
    "metadata with a 50,000-digit integer": Hostile(
        "POST", DOCUMENTS, '{"documents": [{"text": "hi", "metadata": {"n": ' + "1" * 50_000 + "}}]}"
    ),
    "document that is not UTF-8": Hostile("POST", DOCUMENTS, '{"documents": [{"text": "cr\xe8me"}]}'.encode("latin-1")),
    "search with a NUL": Hostile("GET", f"{API}/search?query=a%00b&collection={{collection}}", status=422),
    "search with a C1 control": Hostile("GET", f"{API}/search?query=a%C2%85b&collection={{collection}}", status=422),
    "search with a trailing slash": Hostile("GET", f"{API}/search/?query=x&collection={{collection}}", status=404),
    "documents with a trailing slash": Hostile("GET", DOCUMENTS + "/", status=404),
}
# What only the gateway sees: its own door.
EDGE = {
    "8 MB header": Hostile("GET", f"{API}/collections", headers={"X-Padding": "x" * (8 * 1024 * 1024)}, status=431),
    "8 MB header on /health": Hostile("GET", "/health", headers={"X-Padding": "x" * (8 * 1024 * 1024)}, status=431),
}


@pytest.fixture(scope="module")
def hostile_edge(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The session stack's services behind a gateway with tokens and credentialed CORS on."""
    running = edge_for(
        stack,
        tmp_path_factory.mktemp("hostile-edge"),
        JWT_SECRET=JWT_SECRET,
        CORS_ALLOWED_ORIGINS=ORIGIN,
        CORS_ALLOW_CREDENTIALS="true",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def target(stack: RunningStack) -> Iterator[str]:
    """A collection with one document, so document and search routes get past the 404."""
    name = f"hostile-{time.monotonic_ns()}"
    with stack.client("collections", token=True) as client:
        assert ingest(client, name, [{"id": "risotto.md", "text": "Risotto is stirred."}])["state"] == "completed"
        yield name
        client.delete(f"{API}/collections/{name}")


def internals(stack: RunningStack) -> list[str]:
    """What no client of the public door may see: service addresses, the data directory."""
    return [stack.urls["query"], stack.urls["collections"], str(stack.settings.server.data_dir.resolve())]


def assert_problem(response: httpx.Response, status: int, hidden: list[str]) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status and len(body["detail"]) > 10
    shown = response.text + str(response.headers)
    assert "Traceback" not in shown and "internal-error" not in shown
    assert not [h for h in hidden if h in shown], shown[:500]
    return body


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_through_the_gateway(case: Hostile, stack: RunningStack, hostile_edge: RunningStack, target: str) -> None:
    with hostile_edge.client() as client:
        assert_problem(case.send(client, target), case.status, internals(stack))


@pytest.mark.parametrize("case", BODIES.values(), ids=BODIES.keys())
def test_straight_at_the_services(case: Hostile, stack: RunningStack, target: str) -> None:
    service = "query" if case.path.startswith((f"{API}/query", f"{API}/search")) else "collections"
    with stack.client(service, token=True) as client:
        assert_problem(case.send(client, target), case.status, internals(stack))


@pytest.mark.parametrize("case", EDGE.values(), ids=EDGE.keys())
def test_at_the_edge(case: Hostile, stack: RunningStack, hostile_edge: RunningStack, target: str) -> None:
    with hostile_edge.client() as client:
        assert_problem(case.send(client, target), case.status, internals(stack))


def test_a_trailing_slash_leads_nowhere_inside(stack: RunningStack, hostile_edge: RunningStack, target: str) -> None:
    with hostile_edge.client() as client:
        r = client.get(f"{API}/search/", params={"query": "risotto", "collection": target})
        body = assert_problem(r, 404, internals(stack))
        assert "location" not in r.headers
        assert body["detail"].endswith(f"did you mean {API}/search?")


def token(**claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "mallory", "plan": "pro", "iat": now, "exp": now + 600, **claims}, JWT_SECRET)


# Headers made when the test runs: tokens made at collection could expire before a long suite gets here.
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (lambda: [f"Bearer {token()}", "Bearer forged.token.here"], "send one Authorization header, not 2"),
        (lambda: ["", f"Bearer {token()}"], "send one Authorization header, not 2"),
        (lambda: [f"Bearer {token(exp=str(int(time.time()) + 600))}"], "the exp claim must be a number"),
        (lambda: [f"Bearer {token(nbf=str(int(time.time()) - 60))}"], "the nbf claim must be a number"),
    ],
)
def test_no_silent_downgrade_of_tokens(
    authorization: Callable[[], list[str]], detail: str, stack: RunningStack, hostile_edge: RunningStack
) -> None:
    with hostile_edge.client() as client:
        r = client.get(f"{API}/collections", headers=[("Authorization", value) for value in authorization()])
    body = assert_problem(r, 401, internals(stack))
    assert body["detail"].startswith(detail)
    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_one_good_token_still_passes(hostile_edge: RunningStack) -> None:
    good = issue_token(hostile_edge.settings.gateway, sub="alice", plan="pro", ttl_s=60)
    with hostile_edge.client() as client:
        assert client.get(f"{API}/collections", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_other_origins_get_no_cors_headers_with_credentials_on(hostile_edge: RunningStack) -> None:
    with hostile_edge.client() as client:
        stranger = client.get(f"{API}/collections", headers={"Origin": "https://evil.example"})
        friend = client.get(f"{API}/collections", headers={"Origin": ORIGIN})
    assert not [h for h in stranger.headers if h.startswith("access-control-")]
    assert friend.headers["access-control-allow-credentials"] == "true"
    assert friend.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("service", ["query", "collections"])
def test_health_shows_paths_only_to_token_holders(service: str, stack: RunningStack) -> None:
    data = str(stack.settings.server.data_dir.resolve())
    with stack.client(service) as anonymous, stack.client(service, token=True) as trusted:
        for route in ("/health", "/health/ready"):
            assert data not in anonymous.get(route).text
        assert data in trusted.get("/health").text


def test_the_stack_is_healthy_afterwards(stack: RunningStack, hostile_edge: RunningStack, target: str) -> None:
    """Runs last in this module (pytest keeps file order): everything above left nothing broken."""
    for running, services in ((stack, ("gateway", "query", "collections")), (hostile_edge, ("gateway",))):
        for service in services:
            with running.client(service) as client:
                assert client.get("/health/ready").status_code == 200, service
    with hostile_edge.client() as client:
        found = client.get(f"{API}/search", params={"query": "how is risotto made", "collection": target})
    assert found.status_code == 200
    assert [r["document_id"] for r in found.json()["results"]] == ["risotto.md"]
