"""Browser tests: Debian's Chromium, driven by Playwright, against the web page of a real
`ragplane up` started on free ports (`loadtests/stack.py`) holding a small corpus of its own.

Chromium is the system's (`/usr/bin/chromium`), launched with the flags a container needs;
Playwright never downloads a browser. With `--html`, each test's report carries a screenshot
of the page as the test left it; `--tracing retain-on-failure` keeps a trace of failed ones.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_html

from loadtests.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CORPUS = Path(__file__).parent / "corpus"
COLLECTION = "e2e"
INGEST_S = 120
READY_S = 120


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Up and ready: the gateway answers `/health/ready` (the model has loaded)."""
    with Stack(demo=False) as running:
        deadline = time.monotonic() + READY_S
        while httpx.get(running.urls["gateway"] + "/health/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"the stack was not ready within {READY_S} s"
            time.sleep(0.1)
        yield running


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    """Where `page.goto("/")` goes: the gateway, which serves the web page."""
    return stack.urls["gateway"]


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    """The API through the gateway, with a token of the stack's unlimited plan."""
    headers = {"Authorization": f"Bearer {stack.token()}"}
    with httpx.Client(base_url=stack.urls["gateway"], headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def corpus(api: httpx.Client) -> str:
    """The `e2e` collection holding e2e/corpus/, ingested through the API; its name."""
    api.post("/api/v1/rag/collections", json={"name": COLLECTION}).raise_for_status()
    files = [("files", (path.name, path.read_bytes(), "text/markdown")) for path in sorted(CORPUS.glob("*.md"))]
    accepted = api.post(f"/api/v1/rag/collections/{COLLECTION}/documents", files=files)
    accepted.raise_for_status()
    job = accepted.headers["Location"]
    deadline = time.monotonic() + INGEST_S
    while (state := api.get(job).json()["state"]) in ("queued", "running"):
        assert time.monotonic() < deadline, f"ingestion still {state} after {INGEST_S} s"
        time.sleep(0.1)
    assert state == "completed", api.get(job).json()
    return COLLECTION


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The page as the test left it, as a screenshot in the HTML report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and page is not None and not page.is_closed():
        png = base64.b64encode(page.screenshot(full_page=True)).decode()
        report.extras = [*getattr(report, "extras", []), pytest_html.extras.png(png, name="the page at the end")]
