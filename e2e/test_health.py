"""The Health view: each service and its breakers as the gateway reports them, refreshed by
itself — a breaker a fault opens turns red, and green again once it closes."""

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from loadtests.stack import Stack
from ragplane.kit.service_auth import HEADER

REFRESHED_WITHIN_MS = 15_000  # the view refreshes by itself every 3 s


def test_the_view_shows_every_service_up_and_every_breaker_closed(page: Page, stack: Stack) -> None:
    page.goto("/#/health")
    for name in ("gateway", "query", "collections"):
        expect(page.locator(f"#health-{name} h3 .badge")).to_have_text("up")
    expect(page.locator("#breaker-query-embedder .badge")).to_have_text("closed")
    expect(page.locator("#health-query .checks")).to_contain_text("qdrant up")
    expect(page.locator("#health-query .checks")).to_contain_text("embedder up")
    expect(page.locator("#health-collections .checks")).to_contain_text("registry up")
    expect(page.locator("#health-gateway")).to_contain_text("maintenance: off")


def test_a_breaker_opened_by_a_fault_turns_red_and_green_again(
    page: Page, stack: Stack, api: httpx.Client, corpus: str
) -> None:
    faults = f"{stack.urls['query']}/internal"
    token = {HEADER: stack.service_token}
    page.goto("/#/health")
    embedder = page.locator("#breaker-query-embedder .badge")
    expect(embedder).to_have_text("closed")
    httpx.post(f"{faults}/faults/embedder", headers=token, json={"mode": "error"}).raise_for_status()
    try:
        # Each new query needs the embedder, so each fails, until the breaker opens.
        for _ in range(10):
            params = {"collection": corpus, "query": f"breaker {uuid.uuid4().hex}"}
            assert api.get("/api/v1/rag/search", params=params).status_code == 503
        expect(embedder).to_have_text("open", timeout=REFRESHED_WITHIN_MS)
        expect(embedder).to_have_class(re.compile(r"\bstate-open\b"))  # red
        expect(page.locator("#health-query h3 .badge")).to_have_text("not_ready")
    finally:
        httpx.delete(f"{faults}/faults/embedder", headers=token).raise_for_status()
        httpx.post(f"{faults}/breakers/embedder/reset", headers=token).raise_for_status()
    page.get_by_role("button", name="Refresh now").click()
    expect(embedder).to_have_text("closed")
    expect(page.locator("#health-query h3 .badge")).to_have_text("up")
