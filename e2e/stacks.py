"""The stacks the browser tests drive: `ragplane up` on free ports, waited to ready, and the
small corpus they search, ingested through the API as a user's upload would be."""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from loadtests.stack import LOAD_PLAN, Stack
from ragplane.services.gateway.auth import issue_token
from ragplane.settings import GatewaySettings
from ragplane.settings.gateway import parse_plans
from tests.promstack import free_port
from tests.running import until, wait_for_job

CORPUS = Path(__file__).parent / "corpus"
COLLECTION = "e2e"
INGEST_S = 120
READY_S = 120


def _ready(stack: Stack, *, filled: bool) -> Stack:
    stack.start()
    ready = stack.urls["gateway"] + "/health/ready"
    until(lambda: httpx.get(ready, timeout=10).status_code == 200, timeout=READY_S)
    if filled:
        with api_of(stack) as api:
            fill(api)
    return stack


@contextlib.contextmanager
def ready_stacks(*settings: Mapping[str, str], filled: bool = False) -> Iterator[list[Stack]]:
    """A `ragplane up` for each of `settings`, started side by side, each up and ready: its
    gateway answers `/health/ready` (the model has loaded), and, if `filled`, it holds the
    corpus in the `e2e` collection. All are stopped at the end."""
    stacks = [Stack(demo=False, settings=s) for s in settings]
    try:
        with ThreadPoolExecutor(len(stacks)) as starting:
            list(starting.map(functools.partial(_ready, filled=filled), stacks))
        yield stacks
    finally:
        with ThreadPoolExecutor(len(stacks)) as stopping:
            list(stopping.map(Stack.stop, stacks))


@contextlib.contextmanager
def ready_stack(**settings: str) -> Iterator[Stack]:
    """One of `ready_stacks`."""
    with ready_stacks(settings) as [running]:
        yield running


@contextlib.contextmanager
def api_of(stack: Stack) -> Iterator[httpx.Client]:
    """The API through the stack's gateway, with a token of its unlimited plan."""
    headers = {"Authorization": f"Bearer {token_of(stack, plan=LOAD_PLAN, sub='e2e')}"}
    with httpx.Client(base_url=stack.urls["gateway"], headers=headers, timeout=30) as client:
        yield client


def fill(api: httpx.Client) -> str:
    """The `e2e` collection created and holding e2e/corpus/, ingested through the API; its name."""
    api.post("/api/v1/rag/collections", json={"name": COLLECTION}).raise_for_status()
    files = [("files", (path.name, path.read_bytes(), "text/markdown")) for path in sorted(CORPUS.glob("*.md"))]
    accepted = api.post(f"/api/v1/rag/collections/{COLLECTION}/documents", files=files)
    accepted.raise_for_status()
    job = wait_for_job(api, accepted.json()["id"], timeout=INGEST_S)
    assert job["state"] == "completed", job
    return COLLECTION


def replica_pair(llm_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Settings of two stacks whose answerer is the Ollama at `llm_url` (embeddings stay local):
    the first one's gateway balances query requests over both stacks' query services
    (QUERY_UPSTREAMS), the second one's being its replica 2."""
    front_port = free_port()
    replica_port = next(p for p in iter(free_port, None) if p != front_port)
    shared = {
        "ANSWERER": "ollama",
        "EMBEDDER": "local",
        "OLLAMA_URL": llm_url,
        "INTER_SERVICE_SECRET": secrets.token_urlsafe(40),  # the replica takes the front gateway's calls
    }
    front = {
        **shared,
        "QUERY_PORT": str(front_port),
        "QUERY_UPSTREAMS": f"http://127.0.0.1:{front_port},http://127.0.0.1:{replica_port}",
    }
    return front, {**shared, "QUERY_PORT": str(replica_port)}


def token_of(stack: Stack, *, plan: str, sub: str) -> str:
    """A token the stack's gateway accepts, signed here with its JWT_SECRET (quicker than
    running `ragplane token`, which `Stack.token` does)."""
    edge = GatewaySettings(jwt_secret=stack.env["JWT_SECRET"], plans=parse_plans(stack.env["RATE_LIMIT_PLANS"]))
    return issue_token(edge, sub=sub, plan=plan, ttl_s=3600)
