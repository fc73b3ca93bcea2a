"""The stacks the browser tests drive: `ragplane up` on free ports, waited to ready, and the
small corpus they search, ingested through the API as a user's upload would be."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from loadtests.stack import Stack
from tests.running import until, wait_for_job

CORPUS = Path(__file__).parent / "corpus"
COLLECTION = "e2e"
INGEST_S = 120
READY_S = 120


@contextlib.contextmanager
def ready_stack(**settings: str) -> Iterator[Stack]:
    """A `ragplane up` with `settings`, up and ready: its gateway answers `/health/ready` (the
    model has loaded)."""
    with Stack(demo=False, settings=settings) as running:
        ready = running.urls["gateway"] + "/health/ready"
        until(lambda: httpx.get(ready, timeout=10).status_code == 200, timeout=READY_S)
        yield running


@contextlib.contextmanager
def api_of(stack: Stack) -> Iterator[httpx.Client]:
    """The API through the stack's gateway, with a token of its unlimited plan."""
    headers = {"Authorization": f"Bearer {stack.token()}"}
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
